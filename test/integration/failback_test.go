package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

// TestFailoverAndFailback is the planned round trip of seed 003: failover.yaml moves the apps
// to Europe, they work there, failback.yaml brings them home mirroring only Europe's new
// records (North America never holds a record twice), and Europe stands by again:
// failover.yaml started anew resumes after what it holds. Every record is processed once.
func TestFailoverAndFailback(t *testing.T) {
	primary, standby := sandboxCluster(t, "primary"), sandboxCluster(t, "standby")
	failoverAndFailback(t, primary.Addr, standby.Addr)
}

// failoverAndFailback runs the planned round trip between two clusters.
func failoverAndFailback(t *testing.T, primaryAddr, standbyAddr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	primary, standby := struct{ Addr string }{primaryAddr}, struct{ Addr string }{standbyAddr}
	e, ledger, producer, consumer := drEstate(t, ctx, primary.Addr, standby.Addr)
	failover := sampleRunbook(t, "failover.yaml", "syncGroups: 5s", "syncGroups: 200ms")
	runThrough(t, ctx, e, "failover", failover, "failover_gate")
	if a := producer.Status(); a.Bootstrap != standby.Addr {
		t.Fatalf("producer after the failover: %+v", a)
	}
	time.Sleep(time.Second) // Europe is active
	pausedBefore := producer.Paused()
	back := runThrough(t, ctx, e, "failback", sampleRunbook(t, "failback.yaml"), "failback_gate")
	out := step(back, "since_failover").Outputs
	t.Logf("failback: %v records to copy back, %v stranded; producer paused %s", out["toCopy"], out["stranded"], (producer.Paused() - pausedBefore).Round(time.Millisecond))
	if out["stranded"] != float64(0) || out["toCopy"].(float64) == 0 {
		t.Fatalf("a planned failback: %v", out)
	}
	if a, c := producer.Status(), consumer.Status(); a.Bootstrap != primary.Addr || c.Bootstrap != primary.Addr || a.Replicas != 1 || c.Replicas != 1 {
		t.Fatalf("apps after the failback: %+v %+v", a, c)
	}
	time.Sleep(500 * time.Millisecond)
	n := stopApps(t, ctx, primary.Addr, ledger, producer, consumer)
	if n.Lost != 0 || n.Duplicates != 0 {
		t.Fatalf("lost %d, processed twice %d", n.Lost, n.Duplicates)
	}
	if twice := seqsTwice(t, ctx, primary.Addr); twice != 0 {
		t.Fatalf("North America holds %d records twice: the failback copied Europe's history back", twice)
	}

	// Europe stands by again: the mirror resumes after what it holds, copying nothing twice.
	e.run("failover-again", workflows.Input{Plan: failover})
	e.waitFor("failover-again", "the standby", func(s *workflows.Status) bool {
		return step(s, "failover_gate").Status == workflows.StepWaiting
	})
	if twice := seqsTwice(t, ctx, standby.Addr); twice != 0 {
		t.Fatalf("Europe holds %d records twice after standing by again", twice)
	}
	if err := e.client.CancelWorkflow(ctx, "failover-again", ""); err != nil {
		t.Fatal(err)
	}
}

// TestFailbackAfterPrimaryLoss is the unplanned round trip: North America's readers stall
// (the mirror falls behind) and the region is lost with records Europe never got. The apps
// fail over to Europe; when North America comes back with its data, failback.yaml counts the
// stranded records, keeps them aside, and brings the apps home. Every record is accounted
// for: the only ones never processed are stranded ones, each kept aside, and replaying the
// kept topic leaves none lost. The failback itself processes nothing twice.
func TestFailbackAfterPrimaryLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	data := t.TempDir()
	primary, err := sandbox.Start("primary", data)
	if err != nil {
		t.Fatal(err)
	}
	standby := sandboxCluster(t, "standby")
	e, ledger, producer, consumer := drEstate(t, ctx, primary.Addr, standby.Addr)
	r := e.run("failover", workflows.Input{Plan: sampleRunbook(t, "failover.yaml", "syncGroups: 5s", "syncGroups: 200ms",
		"timeout: 2m", "timeout: 5s", "timeout: 1m", "timeout: 5s", "timeout: 1m", "timeout: 5s")})
	e.waitFor("failover", "the standby", func(s *workflows.Status) bool { return step(s, "failover_gate").Status == workflows.StepWaiting })
	time.Sleep(time.Second)
	release := primary.HoldFetches()
	time.Sleep(time.Second) // North America takes orders nobody reads
	primary.Close()         // and is lost
	release()
	if _, err := e.update("failover", workflows.UpdateApprove, workflows.Approval{Step: "failover_gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if c := consumer.Status(); c.Bootstrap != standby.Addr {
		t.Fatalf("consumer after the failover: %+v", c)
	}
	time.Sleep(time.Second) // Europe is active

	primary, err = sandbox.Start("primary", data) // North America is back, with its data
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	e.sandboxes.Set("origin", primary.Addr)
	// billing's session from before the loss ends as on any Kafka: after its session timeout.
	// Until then groups.translate would refuse the group as active.
	waitGroupEmpty(t, ctx, primary.Addr, "billing")
	dupBefore, pausedBefore := ledger.Counts().Duplicates, producer.Paused()
	back := runThrough(t, ctx, e, "failback", sampleRunbook(t, "failback.yaml"), "failback_gate")
	out := step(back, "since_failover").Outputs
	t.Logf("failback: %v to copy back, %v stranded, kept %v in %v: %v; producer paused %s", out["toCopy"], out["stranded"], out["kept"], out["keptIn"],
		out["strandedPartitions"], (producer.Paused() - pausedBefore).Round(time.Millisecond))
	stranded := out["stranded"].(float64)
	if stranded == 0 || out["kept"] != stranded {
		t.Fatalf("stranded %v, kept %v: the loss stranded records and all must be kept", stranded, out["kept"])
	}
	time.Sleep(500 * time.Millisecond)
	n := stopApps(t, ctx, primary.Addr, ledger, producer, consumer)
	if n.Duplicates != dupBefore {
		t.Fatalf("the failback processed %d records twice", n.Duplicates-dupBefore)
	}

	// Accounting: what was never processed is stranded and kept; replayed, nothing is lost.
	lost := ledger.Lost()
	kept := map[uint64]bool{}
	cl := kclient(t, primary.Addr)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "orders.stranded")
	if err != nil {
		t.Fatal(err)
	}
	var replay []*kgo.Record
	ends.Each(func(o kadm.ListedOffset) {
		err := mirror.Each(ctx, []kgo.Opt{kgo.SeedBrokers(primary.Addr)}, mirror.Partition{Topic: o.Topic, Partition: o.Partition}, 0, o.Offset, func(r *kgo.Record) error {
			seq, _ := sandbox.RecordSeq(r)
			kept[seq] = true
			replay = append(replay, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if float64(len(kept)) != stranded {
		t.Fatalf("orders.stranded holds %d records, the step counted %v", len(kept), stranded)
	}
	for seq := range lost {
		if !kept[seq] {
			t.Fatalf("order %d was lost and is not among the stranded records kept aside", seq)
		}
	}
	for _, r := range replay {
		ledger.Process(r)
	}
	t.Logf("%d orders never processed, all stranded and kept; %d stranded in all", len(lost), len(kept))
	if after := ledger.Counts(); after.Lost != 0 {
		t.Fatalf("after replaying orders.stranded, %d orders are still lost", after.Lost)
	}
}

// runThrough runs a sample runbook to its approval gate, approves it and waits for the end.
func runThrough(t *testing.T, ctx context.Context, e *env, id string, plan *runbook.Plan, gate string) *workflows.Status {
	t.Helper()
	r := e.run(id, workflows.Input{Plan: plan})
	e.waitFor(id, gate, func(s *workflows.Status) bool { return step(s, gate).Status == workflows.StepWaiting })
	if _, err := e.update(id, workflows.UpdateApprove, workflows.Approval{Step: gate, By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status(id).Steps {
			t.Logf("%s %s: %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	return e.status(id)
}

// seqsTwice counts the orders a cluster's orders topic holds more than once.
func seqsTwice(t *testing.T, ctx context.Context, addr string) int {
	t.Helper()
	ends, err := kadm.NewClient(kclient(t, addr)).ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	seen, twice := map[uint64]bool{}, 0
	ends.Each(func(o kadm.ListedOffset) {
		err := mirror.Each(ctx, []kgo.Opt{kgo.SeedBrokers(addr)}, mirror.Partition{Topic: o.Topic, Partition: o.Partition}, 0, o.Offset, func(r *kgo.Record) error {
			if seq, ok := sandbox.RecordSeq(r); ok {
				if seen[seq] {
					twice++
				}
				seen[seq] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	return twice
}

// waitGroupEmpty waits until a group has no members on a cluster.
func waitGroupEmpty(t *testing.T, ctx context.Context, addr, group string) {
	t.Helper()
	adm := kadm.NewClient(kclient(t, addr))
	for {
		d, err := adm.DescribeGroups(ctx, group)
		if err == nil && len(d[group].Members) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s still has members on %s: %v", group, addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFailoverPrefixedAndFailback is the round trip on a prefixed standby: the apps fail over
// to north_america.orders on Europe, work there, and failback-prefixed.yaml brings them home
// to orders on North America, mirroring back only Europe's new records (naming unprefixed).
func TestFailoverPrefixedAndFailback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	primary, standby := sandboxCluster(t, "primary"), sandboxCluster(t, "standby")
	e, ledger, producer, consumer := drEstate(t, ctx, primary.Addr, standby.Addr)
	runThrough(t, ctx, e, "failover", sampleRunbook(t, "failover-prefixed.yaml", "syncGroups: 5s", "syncGroups: 200ms"), "failover_gate")
	if a := producer.Status(); a.Bootstrap != standby.Addr || a.Topic != "north_america.orders" {
		t.Fatalf("producer after the failover: %+v", a)
	}
	time.Sleep(time.Second) // Europe is active, on north_america.orders
	back := runThrough(t, ctx, e, "failback", sampleRunbook(t, "failback-prefixed.yaml"), "failback_gate")
	out := step(back, "since_failover").Outputs
	t.Logf("failback: %v records to copy back, %v stranded", out["toCopy"], out["stranded"])
	if out["stranded"] != float64(0) || out["toCopy"].(float64) == 0 {
		t.Fatalf("a planned failback: %v", out)
	}
	for _, a := range []sandbox.AppStatus{producer.Status(), consumer.Status()} {
		if a.Bootstrap != primary.Addr || a.Topic != "orders" || a.Replicas != 1 {
			t.Fatalf("%s after the failback: %+v", a.Name, a)
		}
	}
	time.Sleep(500 * time.Millisecond)
	n := stopApps(t, ctx, primary.Addr, ledger, producer, consumer)
	if n.Lost != 0 || n.Duplicates != 0 {
		t.Fatalf("lost %d, processed twice %d", n.Lost, n.Duplicates)
	}
	if twice := seqsTwice(t, ctx, primary.Addr); twice != 0 {
		t.Fatalf("North America holds %d orders twice", twice)
	}
}
