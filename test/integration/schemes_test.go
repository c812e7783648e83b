package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/workflows"
)

// TestMigrateProducersFirst is seed 004's scheme 1 (runbooks/migrate-producers-first.yaml),
// with the old cluster's history mirrored first and without: the producer moves, billing
// drains the old cluster, then moves. Every record is processed once, and in order per key.
func TestMigrateProducersFirst(t *testing.T) {
	for _, history := range []bool{true, false} {
		t.Run(fmt.Sprintf("history=%v", history), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			old, fresh := sandboxCluster(t, "old"), sandboxCluster(t, "new")
			seeded, err := sandbox.SeedOrders(ctx, old.Addr, 3, 300)
			if err != nil {
				t.Fatal(err)
			}
			e := start(t, "", newSteps())
			ledger, apps := sampleApps(t, ctx, e.sandboxes, old.Addr, fresh.Addr)
			time.Sleep(500 * time.Millisecond)
			plan := sampleRunbook(t, "migrate-producers-first.yaml", "default: true", fmt.Sprintf("default: %v", history))
			if err := e.run("scheme1", workflows.Input{Plan: plan}).Get(ctx, nil); err != nil {
				for _, st := range e.status("scheme1").Steps {
					t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
				}
				t.Fatal(err)
			}
			if p, b := apps.Producer.Status(), apps.Billing.Status(); p.Bootstrap != fresh.Addr || b.Bootstrap != fresh.Addr || b.Replicas != 1 {
				t.Fatalf("apps after the migration: %+v %+v", p, b)
			}
			time.Sleep(500 * time.Millisecond)
			n := stopApps(t, ctx, fresh.Addr, ledger, apps.Producer, apps.Billing)
			t.Logf("producer paused %s; %d processed out of order", apps.Producer.Paused().Round(time.Millisecond), n.OutOfOrder)
			if n.Lost != 0 || n.Duplicates != 0 || n.OutOfOrder != 0 {
				t.Fatalf("lost %d, processed twice %d, out of order %d", n.Lost, n.Duplicates, n.OutOfOrder)
			}
			byApps, seededThere := countOrders(t, ctx, fresh.Addr)
			if history && (byApps != n.Produced || seededThere != seeded) || !history && (seededThere != 0 || byApps >= n.Produced) {
				t.Fatalf("the new cluster holds %d of the producer's %d orders and %d of the %d seeded", byApps, n.Produced, seededThere, seeded)
			}
			if twice := seqsTwice(t, ctx, fresh.Addr); twice != 0 {
				t.Fatalf("the new cluster holds %d orders twice", twice)
			}
		})
	}
}

// TestMigrateConsumersFirst is seed 004's scheme 2 (runbooks/migrate-consumers-first.yaml):
// billing-new starts on the new cluster, the producer moves, billing drains the old cluster
// and stops. Nothing is lost or processed twice; what is processed out of order per key is
// counted, and bounded by the records the run reported at risk.
func TestMigrateConsumersFirst(t *testing.T) {
	for _, history := range []bool{false, true} {
		t.Run(fmt.Sprintf("history=%v", history), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			old, fresh := sandboxCluster(t, "old"), sandboxCluster(t, "new")
			if _, err := sandbox.SeedOrders(ctx, old.Addr, 3, 300); err != nil {
				t.Fatal(err)
			}
			e := start(t, "", newSteps())
			ledger, apps := sampleApps(t, ctx, e.sandboxes, old.Addr, fresh.Addr)
			time.Sleep(500 * time.Millisecond)
			plan := sampleRunbook(t, "migrate-consumers-first.yaml", "default: false", fmt.Sprintf("default: %v", history))
			if !history {
				// billing on the old cluster falls behind (stopped a moment) and catches up only
				// once production has moved: what the seed warns about, made to happen.
				if _, err := apps.Billing.Scale(ctx, 0); err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
			}
			r := e.run("scheme2", workflows.Input{Plan: plan})
			if !history {
				e.waitFor("scheme2", "the records at risk", func(s *workflows.Status) bool { return step(s, "at_risk").Status == workflows.StepSucceeded })
				time.Sleep(200 * time.Millisecond) // billing-new processes new orders first
				if _, err := apps.Billing.Scale(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Get(ctx, nil); err != nil {
				for _, st := range e.status("scheme2").Steps {
					t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
				}
				t.Fatal(err)
			}
			s := e.status("scheme2")
			if p, b, nb := apps.Producer.Status(), apps.Billing.Status(), apps.BillingNew.Status(); p.Bootstrap != fresh.Addr || b.Replicas != 0 || nb.Replicas != 1 {
				t.Fatalf("apps after the migration: %+v %+v %+v", p, b, nb)
			}
			atRisk := step(s, "at_risk").Outputs["lag"].(float64)
			time.Sleep(500 * time.Millisecond)
			n := stopApps(t, ctx, fresh.Addr, ledger, apps.Producer, apps.BillingNew)
			t.Logf("%v records at risk when production moved (%s); %d processed out of order; producer paused %s",
				atRisk, step(s, "report_overlap").Message, n.OutOfOrder, apps.Producer.Paused().Round(time.Millisecond))
			if !history && (atRisk == 0 || n.OutOfOrder == 0) {
				t.Fatalf("billing was behind on the old cluster, yet %v records at risk and %d out of order", atRisk, n.OutOfOrder)
			}
			if n.Lost != 0 || n.Duplicates != 0 || float64(n.OutOfOrder) > atRisk {
				t.Fatalf("lost %d, processed twice %d, out of order %d (at risk %v)", n.Lost, n.Duplicates, n.OutOfOrder, atRisk)
			}
			if twice := seqsTwice(t, ctx, fresh.Addr); twice != 0 {
				t.Fatalf("the new cluster holds %d orders twice", twice)
			}
		})
	}
}

// countOrders counts a cluster's orders: those the sandbox producer wrote (with a sequence
// number) and the others (seeded).
func countOrders(t *testing.T, ctx context.Context, addr string) (byApps, seeded int) {
	t.Helper()
	ends, err := kadm.NewClient(kclient(t, addr)).ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		err := mirror.Each(ctx, []kgo.Opt{kgo.SeedBrokers(addr)}, mirror.Partition{Topic: o.Topic, Partition: o.Partition}, 0, o.Offset, func(r *kgo.Record) error {
			if _, ok := sandbox.RecordSeq(r); ok {
				byApps++
			} else {
				seeded++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	return byApps, seeded
}
