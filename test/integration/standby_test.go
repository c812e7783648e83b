package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/workflows"
)

// TestStandbyFollowsGroups runs a backup runbook (replication.syncGroups): while the mirror
// runs, a group consuming on the origin is followed on the target, exactly, without any
// cutover step.
func TestStandbyFollowsGroups(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	oadm := kadm.NewClient(kclient(t, origin))
	if _, err := oadm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	e := start(t, "", newSteps())
	r := e.run("backup", workflows.Input{Plan: plan(t, fmt.Sprintf(`
clusters:
  primary: {bootstrap: ["%s"]}
  backup: {bootstrap: ["%s"]}
replication: {origin: primary, target: backup, topics: {include: [orders]}, groups: {include: [billing]}, syncGroups: 200ms}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: keep, uses: approval, with: {message: "Stop the backup?"}}
`, origin, target))})
	e.waitFor("backup", "the backup to run", func(s *workflows.Status) bool { return step(s, "keep").Status == workflows.StepWaiting })

	prod := kclient(t, origin, kgo.DefaultProduceTopic("orders"))
	tadm := kadm.NewClient(kclient(t, target))
	for round := range 3 {
		for i := range 50 {
			if err := prod.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "order %d.%d", round, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		ends, err := oadm.ListEndOffsets(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		// billing has read all but the last 3 records of each partition (where there are 3).
		offs := kadm.Offsets{}
		ends.Each(func(o kadm.ListedOffset) {
			offs.Add(kadm.Offset{Topic: "orders", Partition: o.Partition, At: max(o.Offset-3, 0), LeaderEpoch: -1})
		})
		if _, err := oadm.CommitOffsets(ctx, "billing", offs); err != nil {
			t.Fatal(err)
		}
		// The backup's billing reaches the same positions (one mirror, no gaps: same offsets).
		for {
			got, err := tadm.FetchOffsets(ctx, "billing")
			same := err == nil
			offs.Each(func(o kadm.Offset) {
				if g, ok := got.Lookup(o.Topic, o.Partition); !ok || g.At != o.At {
					same = false
				}
			})
			if same {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("round %d: billing on the backup %v, want %v", round, got, offs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := e.update("backup", workflows.UpdateApprove, workflows.Approval{Step: "keep", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
