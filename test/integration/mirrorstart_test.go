package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/workflows"
)

// A replication whose origin and target are one cluster under two names is refused at
// mirror.start, by cluster id, before anything is copied.
func TestMirrorRefusesTheSameClusterTwice(t *testing.T) {
	addr := kfakeCluster(t)
	seedOrigin(t, addr)
	e := start(t, "", newSteps())
	p := plan(t, fmt.Sprintf(`clusters:
  origin: {bootstrap: "%s"}
  alias_of_origin: {bootstrap: "localhost:%s"}
replication: {origin: origin, target: alias_of_origin, topics: {include: [orders]}}
steps:
  - {id: mirror, uses: mirror.start}
`, addr, addr[strings.LastIndex(addr, ":")+1:]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := e.run("loop", workflows.Input{Plan: p}).Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "origin origin and target alias_of_origin are the same Kafka cluster (cluster id") {
		t.Fatalf("a mirror onto its own origin: %v", err)
	}
	if st := step(e.status("loop"), "mirror"); st.Status != workflows.StepFailed || st.Outputs != nil {
		t.Fatalf("mirror: %s %v", st.Status, st.Outputs)
	}
}

// A target topic holding records the mirror did not write (a cluster restored from this
// target, another producer) is refused at mirror.start, naming the partitions, unless the
// replication says to append after them.
func TestMirrorRefusesATargetWithForeignData(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin)
	seedOrigin(t, target) // the same history, as a restore from it would leave
	e := start(t, "", newSteps())
	src := fmt.Sprintf(`clusters:
  origin: {bootstrap: "%s"}
  target: {bootstrap: "%s"}
replication: {origin: origin, target: target, topics: {include: [orders]}}
steps:
  - {id: mirror, uses: mirror.start}
  - {id: stop, uses: mirror.stop}
`, origin, target)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := e.run("protect", workflows.Input{Plan: plan(t, src)}).Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "target target already holds records this mirror did not write (orders/0: 52 records, orders/1: 40 records, orders/2: 40 records)") ||
		!strings.Contains(err.Error(), "replication.targetData: append") {
		t.Fatalf("a mirror onto a target holding the origin's history: %v", err)
	}
	appended := strings.Replace(src, "topics: {include: [orders]}", "topics: {include: [orders]}, targetData: append", 1)
	// It stops once it has copied: its offset syncs are then on the target.
	appended = strings.Replace(appended, "  - {id: stop,", "  - {id: copied, uses: mirror.wait, with: {interval: 100ms}}\n  - {id: stop,", 1)
	if err := e.run("append", workflows.Input{Plan: plan(t, appended)}).Get(ctx, nil); err != nil {
		t.Fatalf("with targetData: append: %v", err)
	}
	// Its offset syncs are now on the target. A new cluster under the origin's name (the
	// origin was lost and rebuilt) holds other records: those syncs are another origin's.
	rebuilt := kfakeCluster(t)
	cl := kclient(t, rebuilt, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		for i := range 60 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: p, Value: fmt.Appendf(nil, "rebuilt %d", i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = e.run("stale", workflows.Input{Plan: plan(t, strings.Replace(src, origin, rebuilt, 1))}).Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "another origin's syncs") {
		t.Fatalf("a mirror resuming on another origin's offset syncs: %v", err)
	}
}
