package flow

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// A failback after an unplanned loss: north_america (na) had 7 records on orders/0 that
// never reached europe (eu) when it was lost; billing had read 3 of them there. eu then
// took 20 new records per partition and a topic of its own. PrepareFailback finds the 7,
// KeepStranded puts them aside, and the flow back copies exactly eu's new records after
// them, with positions translating past them. A second run changes nothing.
func TestFailbackAfterLossStrandsRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	na, naAdm := kfakeCluster(t, kfake.ClusterID("na"))
	eu, euAdm := kfakeCluster(t, kfake.ClusterID("eu"))
	if _, err := naAdm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce := func(addr, topic, tag string, p int32, n int) {
		cl, _ := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		defer cl.Close()
		for i := range n {
			r := &kgo.Record{Topic: topic, Partition: p, Key: []byte("k"), Value: fmt.Appendf(nil, "%s-%d-%d", tag, p, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	until := func(adm *kadm.Client, topic string, want ...int64) {
		t.Helper()
		for ctx.Err() == nil {
			e, err := adm.ListEndOffsets(ctx, topic)
			ok := err == nil
			for p, w := range want {
				o, found := e.Lookup(topic, int32(p))
				ok = ok && found && o.Offset == w
			}
			if ok {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		e, err := adm.ListEndOffsets(context.Background(), topic)
		t.Fatalf("%s never reached %v: %v %v", topic, want, e, err)
	}
	copyFor := func(from, to, syncTopic string, topics ...string) func() {
		mctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- mirror.Run(mctx, mirror.Config{Origin: []kgo.Opt{kgo.SeedBrokers(from)}, Target: []kgo.Opt{kgo.SeedBrokers(to)},
				SyncTopic: syncTopic, Discover: 50 * time.Millisecond,
				Select: func(t string) bool { return t == "orders" || t == "returns" }})
		}()
		return func() {
			stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(na, "orders", "na", 0, 100)
	produce(na, "orders", "na", 1, 100)
	stop := copyFor(na, eu, "mm2-offset-syncs.na.internal")
	until(euAdm, "orders", 100, 100)
	stop()
	produce(na, "orders", "stranded", 0, 7) // the loss: never copied
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 103, LeaderEpoch: -1})
	if _, err := naAdm.CommitOffsets(ctx, "billing", o); err != nil {
		t.Fatal(err)
	}
	produce(eu, "orders", "eu", 0, 20) // after the failover, on europe
	produce(eu, "orders", "eu", 1, 20)
	if _, err := euAdm.CreateTopic(ctx, 1, 1, nil, "returns"); err != nil {
		t.Fatal(err)
	}
	produce(eu, "returns", "eu", 0, 5)

	// Fresh clients, as each step has: the test's own cache metadata (a topic created in the
	// last 5 s would be missed).
	newFlow := func() *Flow {
		return &Flow{
			Rep:        &runbook.Replication{Origin: "europe", Target: "north_america", Alias: "eu", Groups: runbook.Patterns{Include: []string{".*"}}},
			OriginOpts: []kgo.Opt{kgo.SeedBrokers(eu)}, TargetOpts: []kgo.Opt{kgo.SeedBrokers(na)},
			Origin: admin(t, eu), Target: admin(t, na), Exact: true,
		}
	}
	f := newFlow()
	if _, err := f.PrepareFailback(ctx, "north_america"); err == nil {
		t.Fatal("a wrong alias (no offset syncs of the flow failed over from) was accepted")
	}
	b, err := f.PrepareFailback(ctx, "na")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Stranded) != 1 || b.Stranded[0].String() != "orders/0: 7 records at offsets 100-106, billing had read 3" {
		t.Fatalf("stranded: %v", b.Stranded)
	}
	if b.ToCopy != 45 || b.Partitions != 2 {
		t.Fatalf("to copy %d over %d partitions, want 45 over 2 (eu's new records only)", b.ToCopy, b.Partitions)
	}
	for range 2 {
		kept, err := f.KeepStranded(ctx, b.Stranded, ".stranded")
		if err != nil || kept != 7 {
			t.Fatalf("kept %d: %v", kept, err)
		}
	}
	until(naAdm, "orders.stranded", 7, 0)
	var offsets []string
	err = mirror.Each(ctx, f.TargetOpts, mirror.Partition{Topic: "orders.stranded"}, 0, 7, func(r *kgo.Record) error {
		offsets = append(offsets, string(r.Headers[len(r.Headers)-1].Value))
		return nil
	})
	if err != nil || fmt.Sprint(offsets) != "[100 101 102 103 104 105 106]" {
		t.Fatalf("kept aside: %v %v", offsets, err)
	}

	stop = copyFor(eu, na, b.Topic)
	until(naAdm, "orders", 127, 120)
	until(naAdm, "returns", 5)
	stop()
	first, err := mirror.FirstRecord(ctx, f.TargetOpts, mirror.Partition{Topic: "orders"}, 107)
	if err != nil || string(first.Value) != "eu-0-0" {
		t.Fatalf("the first record copied back is %v (%v), want eu's first new one", first, err)
	}
	m, err := mirror.LoadMapping(ctx, f.TargetOpts, b.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for at, want := range map[int64]int64{50: 50, 100: 107, 110: 117} {
		if got, err := m.Translate(mirror.Partition{Topic: "orders"}, at, 127, nil); err != nil || got != want {
			t.Errorf("eu position %d translates to %d (%v), want %d", at, got, err, want)
		}
	}

	// Re-protect: the flow from north_america to europe continues after what is there,
	// without the stranded records.
	f = newFlow()
	rev, err := f.Reverse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := mirror.LoadMapping(ctx, f.OriginOpts, rev.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 127, 1: 120} {
		if next, ok := fm.Resume(mirror.Partition{Topic: "orders", Partition: p}, 120); !ok || next != want {
			t.Errorf("the flow back to europe resumes orders/%d at %d, want %d", p, next, want)
		}
	}
	if at, err := fm.Translate(mirror.Partition{Topic: "orders"}, 103, 120, nil); err != nil || at != 100 {
		t.Errorf("a position among the stranded records translates to %d on europe (%v), want 100", at, err)
	}

	syncEnd := func() int64 {
		e, _ := naAdm.ListEndOffsets(ctx, b.Topic)
		o, _ := e.Lookup(b.Topic, 0)
		return o.Offset
	}
	before := syncEnd()
	again, err := f.PrepareFailback(ctx, "na")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again.Stranded) != fmt.Sprint(b.Stranded) || again.ToCopy != 0 || syncEnd() != before {
		t.Fatalf("a second run: stranded %v, to copy %d, syncs %d -> %d", again.Stranded, again.ToCopy, before, syncEnd())
	}
}
