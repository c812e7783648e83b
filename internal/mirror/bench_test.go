package mirror

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// With FERRY_KFAKE_SERVER=1 the test binary is a Kafka cluster in its own process (it prints
// its address and runs until killed), so benchmarks measure the copy over the network
// between processes, not within one heap.
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_MIRROR_PROCESS") != "" {
		runMirrorProcess()
		return
	}
	if os.Getenv("FERRY_KFAKE_SERVER") == "1" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(c.ListenAddrs()[0])
		select {}
	}
	os.Exit(m.Run())
}

// clusterProcess starts a kfake cluster in a process of its own; stop ends it (the end of the
// benchmark does too).
func clusterProcess(b *testing.B) (opts []kgo.Opt, stop func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FERRY_KFAKE_SERVER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	b.Cleanup(stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		b.Fatalf("kfake process: %v %s", err, line)
	}
	return []kgo.Opt{kgo.SeedBrokers(strings.TrimSpace(line))}, stop
}

func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("FERRY_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// fill writes n records of 1 KiB over 12 partitions.
func fill(b *testing.B, opts []kgo.Opt, topic string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(100_000))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 12, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 1024)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	var failed atomic.Pointer[error]
	for i := range n {
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if e := failed.Load(); e != nil {
		b.Fatal(*e)
	}
}

// rawCopy is the ceiling: a plain franz-go consume -> produce loop with no bookkeeping. Its
// time includes creating its target topic, as the mirror's does: a copy into a new cluster
// needs the topic.
func rawCopy(b *testing.B, origin, target []kgo.Opt, topic, to string, n int) time.Duration {
	b.Helper()
	start := time.Now()
	tcl, _ := kgo.NewClient(target...)
	if _, err := kadm.NewClient(tcl).CreateTopic(context.Background(), 12, 1, nil, to); err != nil {
		b.Fatal(err)
	}
	tcl.Close()
	cons, _ := kgo.NewClient(append(append([]kgo.Opt(nil), origin...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))...)
	defer cons.Close()
	prod, _ := kgo.NewClient(append(append([]kgo.Opt(nil), target...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(50_000))...)
	defer prod.Close()
	copied := 0
	for copied < n {
		fs := cons.PollRecords(context.Background(), 50_000)
		fs.EachRecord(func(r *kgo.Record) {
			prod.Produce(context.Background(), &kgo.Record{Topic: to, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}, nil)
			copied++
		})
	}
	if err := prod.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

var benchRounds atomic.Int64

// BenchmarkMirrorVsRawCopy copies the same 1,000,000 x 1 KiB records (12 partitions)
// between cluster processes with a raw franz-go consume->produce loop (the ceiling) and with
// the builtin mirror, and reports both, the ratio, the mirror's peak Go heap, and
// verify.parity's digest throughput. Each copies into a target process of its own, and they
// take turns going first: a kfake target holding a gigabyte more copies slower (its heap
// and garbage collector grow), which made whichever ran second look slow. Their goroutines
// are labelled (copier=raw|mirror): -cpuprofile, then pprof -tagfocus copier=mirror.
// FERRY_BENCH_RECORDS changes the count.
func BenchmarkMirrorVsRawCopy(b *testing.B) {
	n := benchRecords()
	origin, stopOrigin := clusterProcess(b)
	defer stopOrigin()
	fill(b, origin, "orders", n)
	mb := float64(n) * 1024 / (1 << 20)
	for b.Loop() {
		round := benchRounds.Add(1) // across -count runs too, each a call of its own
		var raw time.Duration
		copyRaw := func() {
			to, stop := clusterProcess(b)
			defer stop()
			pprof.Do(context.Background(), pprof.Labels("copier", "raw"), func(context.Context) {
				raw = rawCopy(b, origin, to, "orders", "raw.orders", n)
			})
		}
		if round%2 == 0 {
			copyRaw()
		}
		target, stopTarget := clusterProcess(b)

		var peak atomic.Uint64
		stopSampling := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for {
				select {
				case <-stopSampling:
					return
				case <-time.After(50 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}()
		prefix := fmt.Sprintf("m%d", time.Now().UnixNano())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		var mirrorTook, firstCopied time.Duration
		cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs(prefix), Rename: func(t string) string { return prefix + "." + t },
			Select: func(t string) bool { return t == "orders" }, ProgressInterval: 10 * time.Millisecond,
			Progress: func(p Progress) {
				if p.Records > 0 && firstCopied == 0 {
					firstCopied = time.Since(start) // discovery, topic creation, first fetch
				}
				if p.Records >= int64(n) && mirrorTook == 0 {
					mirrorTook = time.Since(start)
					cancel()
				}
			}}
		go pprof.Do(ctx, pprof.Labels("copier", "mirror"), func(ctx context.Context) { done <- Run(ctx, cfg) })
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		close(stopSampling)
		wg.Wait()
		if mirrorTook == 0 {
			b.Fatal("mirror stopped before copying everything")
		}

		starts, oends, tstarts, tends := map[Partition]int64{}, map[Partition]int64{}, map[Partition]int64{}, map[Partition]int64{}
		for p := range int32(12) {
			starts[Partition{"orders", p}] = 0
			tstarts[Partition{prefix + ".orders", p}] = 0
		}
		adm, _ := kgo.NewClient(origin...)
		oe, _ := kadm.NewClient(adm).ListEndOffsets(context.Background(), "orders")
		adm.Close()
		oe.Each(func(o kadm.ListedOffset) { oends[Partition{"orders", o.Partition}] = o.Offset })
		tadm, _ := kgo.NewClient(target...)
		te, _ := kadm.NewClient(tadm).ListEndOffsets(context.Background(), prefix+".orders")
		tadm.Close()
		te.Each(func(o kadm.ListedOffset) { tends[Partition{prefix + ".orders", o.Partition}] = o.Offset })
		pstart := time.Now()
		od, err := Digests(context.Background(), origin, starts, oends, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		parity := time.Since(pstart)
		td, err := Digests(context.Background(), target, tstarts, tends, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		for p := range int32(12) {
			if od[Partition{"orders", p}].SHA256 != td[Partition{prefix + ".orders", p}].SHA256 {
				b.Fatalf("partition %d differs after the mirror", p)
			}
		}
		stopTarget()
		if round%2 == 1 {
			copyRaw()
		}
		b.ReportMetric(mb/raw.Seconds(), "raw-MB/s")
		b.ReportMetric(mb/mirrorTook.Seconds(), "mirror-MB/s")
		b.ReportMetric(raw.Seconds()/mirrorTook.Seconds(), "mirror/raw")
		b.ReportMetric(float64(peak.Load())/(1<<20), "mirror-heap-peak-MB")
		b.ReportMetric(firstCopied.Seconds(), "mirror-start-s")
		b.ReportMetric(mb/parity.Seconds(), "parity-MB/s")
	}
}
