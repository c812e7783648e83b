package mirror

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
	"github.com/ferryhq/ferry/test/bench"
)

// copyShards runs shards copies of the orders topic at once in this process, each owning its
// partitions as a sharded mirror's activities do, into prefix.orders on target, and returns
// how long until all n records were copied. Each copy writes with lanes producers (0: the
// default).
func copyShards(b *testing.B, origin, target []kgo.Opt, prefix string, shards, lanes, n int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var copied atomic.Int64
	perShard := make([]atomic.Int64, shards)
	done := make(chan struct{})
	var once sync.Once
	errs := make(chan error, shards)
	start := time.Now()
	for shard := range shards {
		cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs(prefix),
			Select: func(t string) bool { return t == "orders" }, Rename: func(t string) string { return prefix + "." + t },
			ProgressInterval: 10 * time.Millisecond, Lanes: lanes,
			Owns: func(p Partition) bool { return ShardOf(p, shards) == shard },
			Progress: func(p Progress) {
				if d := p.Records - perShard[shard].Swap(p.Records); copied.Add(d) >= int64(n) {
					once.Do(func() { close(done) })
				}
			}}
		go func() { errs <- Run(ctx, cfg) }()
	}
	select {
	case <-done:
	case err := <-errs:
		b.Fatalf("a shard stopped: %v", err)
	}
	took := time.Since(start)
	cancel()
	for range shards {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	return took
}

// BenchmarkShardsOnOneMachine copies the same 1,000,000 x 1 KiB records (12 partitions) with
// 1, 2 and 4 shards in one process (each a copy of its own partitions, as the sharded mirror's
// activities on one worker), and reports each throughput and its ratio to one shard: what
// splitting costs where it cannot add machines. FERRY_BENCH_RECORDS changes the count.
func BenchmarkShardsOnOneMachine(b *testing.B) {
	n := benchRecords()
	origin, stopOrigin := clusterProcess(b)
	defer stopOrigin()
	fill(b, origin, "orders", n)
	mb := float64(n) * 1024 / (1 << 20)
	for b.Loop() {
		var one float64
		var rows []bench.Row
		for _, shards := range []int{1, 2, 4} {
			target, stop := clusterProcess(b)
			rate := mb / copyShards(b, origin, target, "origin", shards, 0, n).Seconds()
			stop()
			if shards == 1 {
				one = rate
			}
			b.ReportMetric(rate, fmt.Sprintf("shards-%d-MB/s", shards))
			label := "1 shard"
			if shards > 1 {
				label = fmt.Sprintf("%d shards", shards)
			}
			rows = append(rows, bench.Row{Figure: label, Value: fmt.Sprintf("%.1f MB/s", rate)})
			if shards > 1 {
				b.ReportMetric(rate/one, fmt.Sprintf("shards-%d/1", shards))
				rows = append(rows, bench.Row{Figure: fmt.Sprintf("%d shards / 1", shards), Value: fmt.Sprintf("%.2fx", rate/one), Goal: ">= 0.90x (sharding costs at most 10 %)"})
			}
		}
		bench.Print(os.Stdout, fmt.Sprintf("Builtin mirror in shards on one machine, %d x 1 KiB, kfake processes", n), rows...)
	}
}

// BenchmarkTenThousandPartitions mirrors 1,000 topics x 10 partitions (10 records each)
// between cluster processes and reports the time from start to everything copied, the
// process's peak RSS (the clusters run elsewhere, so it is the mirror's), and how long one
// progress report (lag and status over every partition) takes to build.
func BenchmarkTenThousandPartitions(b *testing.B) {
	const topics, partitions, perPartition = 1000, 10, 10
	origin, stopOrigin := clusterProcess(b)
	defer stopOrigin()
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), origin...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(200_000))...)
	if err != nil {
		b.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	var names []string
	for i := range topics {
		names = append(names, fmt.Sprintf("t%04d", i))
	}
	for i := 0; i < len(names); i += 100 {
		if _, err := adm.CreateTopics(ctx, partitions, 1, nil, names[i:i+100]...); err != nil {
			b.Fatal(err)
		}
	}
	for _, t := range names {
		for p := range int32(partitions) {
			for r := range perPartition {
				cl.Produce(ctx, &kgo.Record{Topic: t, Partition: p, Value: fmt.Appendf(nil, "%s/%d/%d", t, p, r)}, nil)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	want := int64(topics * partitions * perPartition)
	for b.Loop() {
		target, stop := clusterProcess(b)
		rctx, cancel := context.WithCancel(ctx)
		caughtUp := make(chan struct{})
		var once sync.Once
		start := time.Now()
		cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("origin"), ProgressInterval: 100 * time.Millisecond,
			Progress: func(p Progress) {
				if p.Records >= want && p.TotalLag == 0 && p.Partitions == topics*partitions {
					once.Do(func() { close(caughtUp) })
				}
			}}
		errs := make(chan error, 1)
		go func() { errs <- Run(rctx, cfg) }()
		select {
		case <-caughtUp:
		case err := <-errs:
			b.Fatalf("mirror stopped: %v", err)
		case <-time.After(10 * time.Minute):
			b.Fatal("not caught up in 10 minutes")
		}
		took := time.Since(start)
		// The lag and status of every partition, as one progress report builds them.
		state := map[Partition]*partState{}
		for _, t := range names {
			for p := range int32(partitions) {
				state[Partition{t, p}] = &partState{hwm: perPartition + 1, next: perPartition}
			}
		}
		rs := time.Now()
		lags, _, _ := lagOf(state, rs)
		_ = eachOf(state, lags, rs)
		oneReport := time.Since(rs)
		cancel()
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		stop()
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(took.Seconds(), "caught-up-s")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(oneReport.Microseconds())/1000, "report-ms")
		bench.Print(os.Stdout, "Builtin mirror over 10,000 partitions (1,000 topics x 10), kfake processes",
			bench.Row{Figure: "start to caught up", Value: took.Round(time.Millisecond).String()},
			bench.Row{Figure: "peak RSS of the mirror's process", Value: fmt.Sprintf("%d MB", ru.Maxrss/1024), Goal: "< 512 MB"},
			bench.Row{Figure: "one lag/status report", Value: oneReport.Round(time.Microsecond).String()})
	}
}
