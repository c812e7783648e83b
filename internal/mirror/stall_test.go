package mirror

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
	"github.com/ferryhq/ferry/test/faults"
)

// While the target is away, progress keeps coming and says the copy stalled: since when, at
// which partition and offset, and the fault the producer met. Once the target is back the
// copy moves again, the stall is gone, and the copy is exact.
func TestProgressSaysWhenTheCopyStalls(t *testing.T) {
	origin := cluster(t)
	sw := faults.New()
	tc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(sw.Listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	target := []kgo.Opt{kgo.SeedBrokers(tc.ListenAddrs()...)}
	createTopic(t, origin, "orders", 1)
	produce(t, origin, "orders", 1, 100, 0)

	reports := make(chan Progress, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("o"), Discover: 100 * time.Millisecond,
		ProgressInterval: 100 * time.Millisecond, StallAfter: time.Second,
		Progress: func(p Progress) {
			select {
			case reports <- p:
			default:
			}
		}}
	go func() { done <- Run(ctx, cfg) }()
	until := func(what string, ok func(Progress) bool) Progress {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case p := <-reports:
				if ok(p) {
					return p
				}
			case err := <-done:
				t.Fatalf("mirror stopped waiting for %s: %v", what, err)
			case <-deadline:
				t.Fatalf("no progress report with %s in 30s", what)
			}
		}
	}
	until("100 records", func(p Progress) bool { return p.Records == 100 })
	sw.Down()
	produce(t, origin, "orders", 1, 100, 100)
	p := until("a stall", func(p Progress) bool { return p.Stalled != nil })
	t.Logf("stalled: %+v rate %v", *p.Stalled, p.Rate)
	if p.Rate != 0 || !strings.Contains(p.Stalled.Cause, "target broker") || time.Since(p.Stalled.Since) < time.Second {
		t.Errorf("stall: %+v, rate %v", *p.Stalled, p.Rate)
	}
	if p.Stalled.At != "" && !strings.HasPrefix(p.Stalled.At, "orders/0@") {
		t.Errorf("stalled at %q", p.Stalled.At)
	}
	sw.Up()
	until("200 records and no stall", func(p Progress) bool { return p.Records == 200 && p.Stalled == nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExact(t, origin, target, Partition{"orders", 0}, cfg.SyncTopic)
}

// The RPO of a partition behind is bounded by when its oldest uncopied record can have been
// written: after the last copied one, and not much before the copy first saw it. A topic
// quiet for a day whose new record is a second old has an RPO of a second, not a day.
func TestPartitionRPO(t *testing.T) {
	now := time.Now()
	quiet, backlog, caughtUp := Partition{Topic: "quiet"}, Partition{Topic: "backlog"}, Partition{Topic: "done"}
	state := map[Partition]*partState{
		quiet:    {next: 10, hwm: 11, lastTS: now.Add(-24 * time.Hour), behind: now.Add(-time.Second)},
		backlog:  {next: 10, hwm: 500, lastTS: now.Add(-30 * time.Minute), behind: now.Add(-time.Hour)},
		caughtUp: {next: 10, hwm: 10, lastTS: now.Add(-time.Hour)},
	}
	lags, _, _ := lagOf(state, now)
	got := map[Partition]time.Duration{}
	for _, p := range eachOf(state, lags, now) {
		got[p.Partition] = p.RPO
	}
	if got[quiet] != time.Second || got[backlog] != 30*time.Minute || got[caughtUp] != 0 {
		t.Fatalf("RPO: quiet %s (want 1s), backlog %s (want 30m), caught up %s (want 0)", got[quiet], got[backlog], got[caughtUp])
	}
}
