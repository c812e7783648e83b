package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

func cluster(t *testing.T) []kgo.Opt {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
}

func client(t *testing.T, opts []kgo.Opt, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, opts []kgo.Opt, topic string, partitions int32) {
	t.Helper()
	if _, err := kadm.NewClient(client(t, opts)).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// produce writes n records per partition with keys, headers and old timestamps.
func produce(t *testing.T, opts []kgo.Opt, topic string, partitions int32, n, base int) {
	t.Helper()
	cl := client(t, opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for p := range partitions {
		for i := range n {
			rs = append(rs, &kgo.Record{
				Topic: topic, Partition: p,
				Key:       fmt.Appendf(nil, "k%d", base+i),
				Value:     fmt.Appendf(nil, "order %d of partition %d", base+i, p),
				Headers:   []kgo.RecordHeader{{Key: "source", Value: []byte("loosehanger")}},
				Timestamp: time.UnixMilli(1_600_000_000_000 + int64(base+i)),
			})
		}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// produceTxn writes one transaction of n records to partition 0, committed or aborted.
func produceTxn(t *testing.T, opts []kgo.Opt, topic string, n int, commit bool, tag string) {
	t.Helper()
	cl := client(t, opts, kgo.TransactionalID("txn-"+tag), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(tag), Value: fmt.Appendf(nil, "%s-%d", tag, i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

type record struct {
	offset int64
	body   string
}

// readAll returns the committed records of a partition, in order.
func readAll(t *testing.T, opts []kgo.Opt, p Partition) []record {
	t.Helper()
	adm := kadm.NewClient(client(t, opts))
	ends, err := adm.ListEndOffsets(context.Background(), p.Topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(p.Topic, p.Partition)
	var out []record
	err = scan(context.Background(), opts, map[Partition]int64{p: 0}, map[Partition]int64{p: end.Offset}, func(_ Partition, r *kgo.Record) error {
		h := ""
		for _, x := range r.Headers {
			h += x.Key + "=" + string(x.Value) + ";"
		}
		out = append(out, record{r.Offset, fmt.Sprintf("%q|%q|%s|%d", r.Key, r.Value, h, r.Timestamp.UnixMilli())})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func endOffset(t *testing.T, opts []kgo.Opt, p Partition) int64 {
	t.Helper()
	ends, err := kadm.NewClient(client(t, opts)).ListEndOffsets(context.Background(), p.Topic)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ends.Lookup(p.Topic, p.Partition)
	return e.Offset
}

// mirrorUntil runs the mirror until the target holds want records in all, then stops it.
func mirrorUntil(t *testing.T, cfg Config, want int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	got := make(chan struct{})
	closed := false
	cfg.Progress = func(p Progress) {
		if p.Records >= want && !closed {
			closed = true
			close(got)
		}
	}
	go func() { done <- Run(ctx, cfg) }()
	select {
	case <-got:
	case err := <-done:
		t.Fatalf("mirror stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("mirror did not copy in 30s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// checkExact asserts the target partition holds exactly the origin's committed records, and
// that every origin offset translates to the target offset of the same next record.
func checkExact(t *testing.T, origin, target []kgo.Opt, p Partition, syncTopic string) {
	t.Helper()
	o, tg := readAll(t, origin, p), readAll(t, target, p)
	if len(o) != len(tg) {
		t.Fatalf("%s: origin %d records, target %d", p, len(o), len(tg))
	}
	for i := range o {
		if o[i].body != tg[i].body {
			t.Fatalf("%s: record %d differs:\norigin %s\ntarget %s", p, i, o[i].body, tg[i].body)
		}
	}
	m, err := LoadMapping(context.Background(), target, syncTopic)
	if err != nil {
		t.Fatal(err)
	}
	originEnd, targetEnd := endOffset(t, origin, p), endOffset(t, target, p)
	hasData := func(from, to int64) (bool, error) { return HasData(context.Background(), origin, p, from, to) }
	for off := int64(0); off <= originEnd; off++ {
		got, err := m.Translate(p, off, targetEnd, hasData)
		if err != nil {
			t.Fatalf("%s: translate %d: %v", p, off, err)
		}
		// The next record a consumer at off reads on the origin must be the one at got.
		i := 0
		for i < len(o) && o[i].offset < off {
			i++
		}
		if i == len(o) {
			if got != targetEnd {
				t.Fatalf("%s: origin %d is past every record: want target end %d, got %d", p, off, targetEnd, got)
			}
			continue
		}
		j := 0
		for j < len(tg) && tg[j].offset < got {
			j++
		}
		if j == len(tg) || tg[j].body != o[i].body || tg[j].offset != got {
			t.Fatalf("%s: origin %d translated to %d, which is not the same next record", p, off, got)
		}
	}
}

func TestMirrorExactWithTransactionsAndResume(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "orders", 3)
	produce(t, origin, "orders", 3, 50, 0)
	produceTxn(t, origin, "orders", 5, true, "a")
	produceTxn(t, origin, "orders", 7, false, "b") // aborted: never copied
	produceTxn(t, origin, "orders", 3, true, "c")
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("target"), Discover: 200 * time.Millisecond}
	mirrorUntil(t, cfg, 3*50+8)

	// More data, then a restart: the mirror continues where the target ends.
	produce(t, origin, "orders", 3, 20, 50)
	produceTxn(t, origin, "orders", 4, false, "d")
	produce(t, origin, "orders", 1, 10, 70)
	mirrorUntil(t, cfg, 3*20+10)

	for p := range int32(3) {
		checkExact(t, origin, target, Partition{"orders", p}, cfg.SyncTopic)
	}
}

// Each partition is written by one lane, so however many lanes share the partitions, every
// partition's records land in the origin's order with its gaps synced.
func TestMirrorLanesKeepEachPartitionInOrder(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "orders", 7)
	produce(t, origin, "orders", 7, 300, 0)
	produceTxn(t, origin, "orders", 9, false, "gap") // a gap in partition 0 only
	produce(t, origin, "orders", 7, 300, 300)
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("target"), Lanes: 3}
	mirrorUntil(t, cfg, 7*600)
	for p := range int32(7) {
		checkExact(t, origin, target, Partition{"orders", p}, cfg.SyncTopic)
	}
}

func TestMirrorResumesAfterCrashBetweenSyncAndData(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "payments", 1)
	produce(t, origin, "payments", 1, 30, 0)
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("target"), Discover: 200 * time.Millisecond}
	mirrorUntil(t, cfg, 30)
	// A crash right after writing a sync for records that never reached the target: the
	// sync claims origin 40 went to target 45.
	produceTxn(t, origin, "payments", 3, false, "x")
	stale := OffsetSync{Partition: Partition{"payments", 0}, Upstream: 40, Downstream: 45}
	if err := client(t, target).ProduceSync(context.Background(), stale.Record(cfg.SyncTopic)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce(t, origin, "payments", 1, 20, 30)
	mirrorUntil(t, cfg, 20)
	checkExact(t, origin, target, Partition{"payments", 0}, cfg.SyncTopic)
}

func TestMirrorPicksUpNewTopicsAndPartitions(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "a", 1)
	produce(t, origin, "a", 1, 5, 0)
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("target"), Discover: 100 * time.Millisecond,
		Rename: func(s string) string { return "origin." + s }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last Progress
	progress := make(chan Progress, 100)
	cfg.Progress = func(p Progress) { progress <- p }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	time.Sleep(500 * time.Millisecond)
	createTopic(t, origin, "b", 2) // created mid-mirror
	produce(t, origin, "b", 2, 7, 0)
	deadline := time.After(20 * time.Second)
	for last.Records < 5+14 {
		select {
		case last = <-progress:
		case <-deadline:
			t.Fatalf("mirror copied %d of 19", last.Records)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	o := readAll(t, origin, Partition{"b", 1})
	tg := readAll(t, target, Partition{"origin.b", 1})
	if len(o) != 7 || len(tg) != 7 || !bytes.Equal([]byte(o[6].body), []byte(tg[6].body)) {
		t.Fatalf("new topic not mirrored under its prefixed name: %d/%d", len(o), len(tg))
	}
}

func TestOffsetSyncEncodingMatchesMirrorMaker(t *testing.T) {
	// Bytes as MirrorMaker 2's OffsetSync.recordKey/recordValue write them.
	s := OffsetSync{Partition: Partition{"orders", 7}, Upstream: 1234, Downstream: 99}
	r := s.Record("mm2-offset-syncs.b.internal")
	wantKey := []byte{0, 6, 'o', 'r', 'd', 'e', 'r', 's', 0, 0, 0, 7}
	wantVal := []byte{0, 0, 0, 0, 0, 0, 4, 210, 0, 0, 0, 0, 0, 0, 0, 99}
	if !bytes.Equal(r.Key, wantKey) || !bytes.Equal(r.Value, wantVal) {
		t.Fatalf("key %v value %v", r.Key, r.Value)
	}
	back, err := DecodeOffsetSync(r)
	if err != nil || back != s {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := DecodeOffsetSync(&kgo.Record{Key: []byte{0, 9, 'x'}, Value: wantVal}); err == nil {
		t.Fatal("a malformed key decoded")
	}
}

func TestCheckpointEncodingMatchesMirrorMaker(t *testing.T) {
	// Bytes as MirrorMaker 2's Checkpoint.recordKey/recordValue write them: key group, topic,
	// partition; value a version header (0), then upstream, downstream, metadata.
	c := Checkpoint{Group: "billing", Partition: Partition{"a.orders", 2}, Upstream: 300, Downstream: 257, Metadata: "m"}
	r := c.Record(mm2topic.Checkpoints("a"))
	wantKey := []byte{0, 7, 'b', 'i', 'l', 'l', 'i', 'n', 'g', 0, 8, 'a', '.', 'o', 'r', 'd', 'e', 'r', 's', 0, 0, 0, 2}
	wantVal := []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 44, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 'm'}
	if !bytes.Equal(r.Key, wantKey) || !bytes.Equal(r.Value, wantVal) || r.Topic != "a.checkpoints.internal" {
		t.Fatalf("topic %s key %v value %v", r.Topic, r.Key, r.Value)
	}
	back, err := DecodeCheckpoint(r)
	if err != nil || back != c {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := DecodeCheckpoint(&kgo.Record{Key: wantKey, Value: []byte{0, 1, 0}}); err == nil {
		t.Fatal("an unknown version decoded")
	}
}

func TestFirstMismatch(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "a", 1)
	createTopic(t, target, "a", 1)
	produce(t, origin, "a", 1, 10, 0)
	produce(t, target, "a", 1, 6, 0)
	produce(t, target, "a", 1, 4, 100) // records 6..9 differ
	p := Partition{"a", 0}
	mm, err := FirstMismatch(context.Background(), origin, target, p, p, 0, 10, 0, 10, false)
	if err != nil || mm == nil || mm.Origin != 6 || mm.Target != 6 {
		t.Fatalf("first mismatch %+v %v, want 6/6", mm, err)
	}
	mm, err = FirstMismatch(context.Background(), origin, target, p, p, 0, 6, 0, 6, false)
	if err != nil || mm != nil {
		t.Fatalf("identical prefixes reported as %+v %v", mm, err)
	}
	mm, err = FirstMismatch(context.Background(), origin, target, p, p, 0, 7, 0, 6, false)
	if err != nil || mm == nil || mm.Origin != 6 || mm.Target != -1 {
		t.Fatalf("a missing record: %+v %v", mm, err)
	}
}

func TestHeartbeatsInMirrorMakerFormat(t *testing.T) {
	// Bytes as MirrorMaker 2's Heartbeat.recordKey/recordValue write them.
	h := Heartbeat{Source: "na", Target: "eu", Timestamp: time.UnixMilli(1234)}
	r := h.Record()
	if !bytes.Equal(r.Key, []byte{0, 2, 'n', 'a', 0, 2, 'e', 'u'}) || !bytes.Equal(r.Value, []byte{0, 0, 0, 0, 0, 0, 0, 0, 4, 210}) {
		t.Fatalf("key %v value %v", r.Key, r.Value)
	}
	if back, err := DecodeHeartbeat(r); err != nil || back.Source != "na" || back.Target != "eu" || !back.Timestamp.Equal(h.Timestamp) {
		t.Fatalf("round trip %+v %v", back, err)
	}
	// A running mirror writes them to the target.
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "x", 1)
	produce(t, origin, "x", 1, 3, 0)
	mirrorUntil(t, Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("eu"), Heartbeat: &Heartbeat{Source: "na", Target: "eu"}, HeartbeatInterval: 10 * time.Millisecond}, 3)
	var beats int
	err := scan(context.Background(), target, map[Partition]int64{{mm2topic.Heartbeats, 0}: 0}, map[Partition]int64{{mm2topic.Heartbeats, 0}: endOffset(t, target, Partition{mm2topic.Heartbeats, 0})}, func(_ Partition, r *kgo.Record) error {
		if hb, err := DecodeHeartbeat(r); err != nil || hb.Source != "na" || hb.Target != "eu" {
			return fmt.Errorf("bad heartbeat %+v %v", hb, err)
		}
		beats++
		return nil
	})
	if err != nil || beats == 0 {
		t.Fatalf("%d heartbeats, %v", beats, err)
	}
}

// A mirror's first heartbeat is on the target before its first record, so whoever sees
// records copied (a standby watch right after the first copy) finds the flow's heartbeat.
func TestMirrorHeartbeatsBeforeItsFirstRecord(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var mu sync.Mutex
	var written []string // the topics of each produce request, in the order the target took them
	c.ControlKey(kmsg.Produce.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, rt := range kreq.(*kmsg.ProduceRequest).Topics {
			w := rt.Topic
			if w == "" {
				w = fmt.Sprintf("%x", rt.TopicID) // Produce v13 names topics by id
			}
			written = append(written, w)
		}
		return nil, nil, false
	})
	origin, target := cluster(t), []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	createTopic(t, origin, "x", 1)
	produce(t, origin, "x", 1, 3, 0)
	mirrorUntil(t, Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("eu"), Heartbeat: &Heartbeat{Source: "na", Target: "eu"}, HeartbeatInterval: time.Hour}, 3)

	topics, err := kadm.NewClient(client(t, target)).ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	name := func(w string) string {
		for _, td := range topics {
			if w == fmt.Sprintf("%x", [16]byte(td.ID)) {
				return td.Topic
			}
		}
		return w
	}
	mu.Lock()
	defer mu.Unlock()
	var order []string
	for _, w := range written {
		order = append(order, name(w))
	}
	beat, data := slices.Index(order, mm2topic.Heartbeats), slices.Index(order, "x")
	if beat < 0 || data < 0 || beat > data {
		t.Fatalf("the target took produce requests for %v: the heartbeat must come before x's records", order)
	}
}

func TestLagNamesPartitionsBehind(t *testing.T) {
	now := time.Now()
	state := map[Partition]*partState{}
	for i := range int32(8) {
		// Partition i has 10*i records left; partition 3 stopped at a transaction marker.
		state[Partition{"orders", i}] = &partState{next: 100, hwm: 100 + 10*int64(i), lastTS: now.Add(-time.Duration(i) * time.Second)}
	}
	state[Partition{"orders", 3}].seen = 130
	lags, total, behind := lagOf(state, now)
	if lags[Partition{"orders", 3}] != 0 || total != 10*(1+2+4+5+6+7) {
		t.Fatalf("lags %v total %d", lags, total)
	}
	if len(behind) != 5 || behind[0].Partition.Partition != 7 || behind[0].Records != 70 || behind[0].Age != 7*time.Second || behind[4].Partition.Partition != 2 {
		t.Fatalf("behind %v: want the five worst, worst first, with their age", behind)
	}
	if got := behind[0].String(); got != "orders/7: 70 records, 7s" {
		t.Fatalf("%q", got)
	}
}

// A read whose end lies past the partition's end stops at the end (a group committed beyond
// the log end made groups.translate wait forever).
func TestHasDataStopsAtTheLogEnd(t *testing.T) {
	opts := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := Partition{Topic: "t", Partition: 0}
	if has, err := HasData(ctx, opts, p, 10, 1_000); err != nil || has {
		t.Fatalf("past the end: %v %v", has, err)
	}
	if has, err := HasData(ctx, opts, p, 5, 1_000); err != nil || !has {
		t.Fatalf("inside the log: %v %v", has, err)
	}
}

// Locate finds a record by content between sparse syncs (MirrorMaker 2 keeps only the latest
// pending sync of a burst), also across an aborted transaction no sync reported.
func TestLocateBetweenSparseSyncs(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, tg := client(t, origin), client(t, target)
	for _, c := range []*kgo.Client{o, tg} {
		if _, err := kadm.NewClient(c).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(i int) *kgo.Record {
		return &kgo.Record{Topic: "t", Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i), Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))}
	}
	// Origin: 0..9, an aborted transaction (10..14 + marker 15), 16..25 as records 10..19.
	for i := range 10 {
		if err := o.ProduceSync(ctx, rec(i)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	txn := client(t, origin, kgo.TransactionalID("x"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		txn.Produce(ctx, rec(100+i), nil)
	}
	if err := txn.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		if err := o.ProduceSync(ctx, rec(i)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Target: the 20 committed records back to back, as MirrorMaker 2 copies them.
	for i := range 20 {
		if err := tg.ProduceSync(ctx, rec(i)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := Partition{Topic: "t", Partition: 0}
	m := &Mapping{syncs: map[Partition][]OffsetSync{p: {{Partition: p, Upstream: 25, Downstream: 19}}}}
	for originOffset, want := range map[int64]int64{0: 0, 5: 5, 9: 9, 10: 10, 12: 10, 15: 10, 16: 10, 20: 14, 25: 19, 26: 20} {
		got, err := Locate(ctx, origin, target, m, p, p, originOffset, 20)
		if err != nil || got != want {
			t.Errorf("origin %d: got %d, %v; want %d", originOffset, got, err, want)
		}
	}
}

func TestMirrorRefusesACompactedSyncTopic(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	compact := "compact"
	if _, err := kadm.NewClient(client(t, target)).CreateTopic(context.Background(), 1, 1, map[string]*string{"cleanup.policy": &compact}, mm2topic.OffsetSyncs("a")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("a")})
	if !errors.Is(err, ErrSyncTopicCompacted) || !strings.Contains(err.Error(), "mm2-offset-syncs.a.internal (cleanup.policy=compact") {
		t.Fatalf("want a refusal naming the topic and its policy, got %v", err)
	}
}

// MirrorMaker 2 copies at least once: a task restarted before committing copies records
// again, and a sync of the second copy can sit below the first copy of a later record. Locate
// still finds a record whose only copy lies past the sync above it.
func TestLocateAcrossARestartedCopy(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := func(i int) *kgo.Record {
		return &kgo.Record{Topic: "t", Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i), Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))}
	}
	o, tg := client(t, origin), client(t, target)
	for _, c := range []*kgo.Client{o, tg} {
		if _, err := kadm.NewClient(c).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := o.ProduceSync(ctx, rec(i)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Target: 0..4 copied, then the restarted task copies 0..9 again (offsets 5..14).
	for _, i := range []int{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9} {
		if err := tg.ProduceSync(ctx, rec(i)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := Partition{Topic: "t", Partition: 0}
	// The kept syncs: record 1 at 1 (first copy), record 6 at 6 (stale: really at 11).
	m := &Mapping{syncs: map[Partition][]OffsetSync{p: {{Partition: p, Upstream: 1, Downstream: 1}, {Partition: p, Upstream: 6, Downstream: 6}}}}
	got, err := Locate(ctx, origin, target, m, p, p, 5, 15)
	if err != nil || got != 10 {
		t.Fatalf("origin 5: got %d, %v; want 10, its only copy", got, err)
	}
}
