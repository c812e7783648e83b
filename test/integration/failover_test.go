package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/workflows"
)

// TestFailover is seed 003 on runbooks/failover.yaml: Europe stands by while the apps work on
// North America (billing's position follows there before any failover), then the failover
// moves both apps to Europe: every record is processed once.
func TestFailover(t *testing.T) {
	primary, standby := sandboxCluster(t, "primary"), sandboxCluster(t, "standby")
	plannedFailover(t, primary.Addr, standby.Addr, "failover.yaml", "orders")
}

// TestFailoverAfterPrimaryLoss is the same failover when North America is gone for good
// while its apps run: the steps that need it fail and are passed over, the positions of the
// last group sync stand, and both apps continue on Europe. What is lost is what the mirror
// had not copied yet (the RPO); what is read twice, what billing processed since the last
// group sync.
func TestFailoverAfterPrimaryLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	primary, standby := sandboxCluster(t, "primary"), sandboxCluster(t, "standby")
	e, ledger, producer, consumer := drEstate(t, ctx, primary.Addr, standby.Addr)
	r := e.run("failover", workflows.Input{Plan: sampleRunbook(t, "failover.yaml", "syncGroups: 5s", "syncGroups: 200ms",
		"timeout: 2m", "timeout: 5s", "timeout: 1m", "timeout: 5s", "timeout: 1m", "timeout: 5s")})
	e.waitFor("failover", "the standby", func(s *workflows.Status) bool { return step(s, "failover_gate").Status == workflows.StepWaiting })
	time.Sleep(time.Second)
	primary.Close() // the region is lost, its apps still running
	before := ledger.Counts()
	lossAt := time.Now()
	if _, err := e.update("failover", workflows.UpdateApprove, workflows.Approval{Step: "failover_gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s := e.status("failover")
	for _, id := range []string{"last_copy", "positions"} {
		if st := step(s, id); st.Status != workflows.StepFailed {
			t.Fatalf("%s %s: want failed and passed over (North America is gone)", id, st.Status)
		}
	}
	t.Logf("failover took %s after the loss", time.Since(lossAt).Round(time.Millisecond))
	if a := consumer.Status(); a.Bootstrap != standby.Addr || a.Replicas != 1 {
		t.Fatalf("consumer after the failover: %+v", a)
	}
	// Europe is active: new orders are produced and processed there.
	time.Sleep(time.Second)
	n := stopApps(t, ctx, standby.Addr, ledger, producer, consumer)
	t.Logf("%d produced before the loss", before.Produced)
	if n.Produced <= before.Produced {
		t.Fatal("nothing was produced on Europe after the failover")
	}
	// At 300 orders/s, with the mirror a few milliseconds behind and groups synced every
	// 200ms, both are at most a second's worth.
	if n.Lost > 300 || n.Duplicates > 300 {
		t.Fatalf("lost %d, processed twice %d: more than a second of orders", n.Lost, n.Duplicates)
	}
}

// TestFailoverPrefixed is seed 003 as MirrorMaker 2 runs it (runbooks/failover-prefixed.yaml):
// Europe holds north_america.orders with billing's position kept on it; after the failover
// both apps use north_america.orders on Europe and every record is processed once.
func TestFailoverPrefixed(t *testing.T) {
	primary, standby := sandboxCluster(t, "primary"), sandboxCluster(t, "standby")
	plannedFailover(t, primary.Addr, standby.Addr, "failover-prefixed.yaml", "north_america.orders")
}

// plannedFailover runs a failover runbook while the primary answers: billing's position
// follows on the standby's topic (and only there) before the failover; after it, both apps
// work on the standby with that topic, and every record is processed once.
func plannedFailover(t *testing.T, primary, standby, file, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, ledger, producer, consumer := drEstate(t, ctx, primary, standby)
	r := e.run("failover", workflows.Input{Plan: sampleRunbook(t, file, "syncGroups: 5s", "syncGroups: 200ms")})
	e.waitFor("failover", "the standby", func(s *workflows.Status) bool { return step(s, "failover_gate").Status == workflows.StepWaiting })

	// Before any failover, billing already has a position on the standby, on its topic there.
	sadm := kadm.NewClient(kclient(t, standby))
	elsewhere := func(got kadm.OffsetResponses) bool { return topic != "orders" && len(got["orders"]) > 0 }
	for {
		got, err := sadm.FetchOffsets(ctx, "billing")
		if err == nil && len(got[topic]) == 3 && !elsewhere(got) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("billing has no position on %s on the standby: %v %v", topic, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := e.update("failover", workflows.UpdateApprove, workflows.Approval{Step: "failover_gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s := e.status("failover")
	for _, id := range []string{"last_copy", "drain", "positions"} {
		if st := step(s, id); st.Status != workflows.StepSucceeded {
			t.Fatalf("%s %s: %s (North America still answers: nothing may be skipped)", id, st.Status, st.LastError)
		}
	}
	for _, a := range []sandbox.AppStatus{producer.Status(), consumer.Status()} {
		if a.Bootstrap != standby || a.Topic != topic || a.Replicas != 1 {
			t.Fatalf("%s after the failover: %+v", a.Name, a)
		}
	}
	// The apps work on Europe: stop the producer, let billing drain, count.
	time.Sleep(500 * time.Millisecond)
	n := stopApps(t, ctx, standby, ledger, producer, consumer)
	if n.Lost != 0 || n.Duplicates != 0 {
		t.Fatalf("lost %d, processed twice %d", n.Lost, n.Duplicates)
	}
	if got, _ := sadm.FetchOffsets(ctx, "billing"); elsewhere(got) {
		t.Fatalf("billing consumed a topic orders on Europe: %v", got["orders"])
	}
}

// drEstate is where the DR tests begin: orders seeded on primary, a worker, and the sample
// apps working on primary (the sample runbooks' origin; standby is their target).
func drEstate(t *testing.T, ctx context.Context, primary, standby string) (*env, *sandbox.Ledger, *sandbox.Producer, *sandbox.Consumer) {
	t.Helper()
	if _, err := sandbox.SeedOrders(ctx, primary, 3, 300); err != nil {
		t.Fatal(err)
	}
	e := start(t, "", newSteps())
	ledger, producer, consumer := sandboxApps(t, ctx, e.sandboxes, primary, standby)
	return e, ledger, producer, consumer
}
