package sandbox

import (
	"context"
	"io"
	"time"
)

// Estate is the sample runbooks' small company on sandboxes: an origin cluster seeded with
// order events (an aborted and a committed transaction among them) and two groups that
// stopped, shipping and analytics; an empty target cluster; and live apps on the origin,
// orders-producer and the billing consumer, counting every record in a ledger. The apps are
// reached through Control, as runbooks' apps of kind sandbox are.
type Estate struct {
	Origin, Target *Cluster
	Seeded         int
	Ledger         *Ledger
	Producer       *Producer
	Consumer       *Consumer
	Control        *Control
}

// StartEstate starts the clusters, seeds records order events and starts the apps, the
// producer writing rate orders a second. On error, whatever started is closed.
func StartEstate(ctx context.Context, records, rate int) (_ *Estate, err error) {
	e := &Estate{Ledger: NewLedger()}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.Origin, err = Start("origin", ""); err != nil {
		return nil, err
	}
	if e.Target, err = Start("target", ""); err != nil {
		return nil, err
	}
	if e.Seeded, err = SeedOrders(ctx, e.Origin.Addr, 6, records); err != nil {
		return nil, err
	}
	for g, frac := range map[string]float64{"shipping": 1, "analytics": 0.25} {
		if _, err = CommitGroup(ctx, e.Origin.Addr, g, "orders", frac); err != nil {
			return nil, err
		}
	}
	apps := NewSampleApps(e.Origin.Addr, e.Target.Addr, rate, e.Ledger)
	e.Producer, e.Consumer = apps.Producer, apps.Billing
	if e.Control, err = Serve(apps.All()); err != nil {
		return nil, err
	}
	for _, a := range []App{e.Producer, e.Consumer} {
		if _, err = a.Scale(ctx, 1); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// SampleApps are the apps the sample runbooks name: orders-producer and billing on the
// origin, and billing-new, a second billing on the target (stopped) for migrations that run
// consumers on both clusters at once (seed 004, scheme 2). They share one ledger.
type SampleApps struct {
	Producer            *Producer
	Billing, BillingNew *Consumer
}

// NewSampleApps returns the sample apps, stopped; the producer writes rate orders a second.
func NewSampleApps(origin, target string, rate int, ledger *Ledger) SampleApps {
	return SampleApps{
		Producer:   NewProducer("orders-producer", origin, "orders", rate, ledger),
		Billing:    NewConsumer("billing", origin, "billing", "orders", ledger),
		BillingNew: NewConsumer("billing-new", target, "billing", "orders", ledger),
	}
}

// All names the apps as runbooks' sandbox apps do.
func (s SampleApps) All() map[string]App {
	return map[string]App{"orders-producer": s.Producer, "billing": s.Billing, "billing-new": s.BillingNew}
}

// Addrs are the sandbox names a worker resolves: origin, target and the apps' control.
func (e *Estate) Addrs() map[string]string {
	return map[string]string{"origin": e.Origin.Addr, "target": e.Target.Addr, ControlName: e.Control.Addr}
}

// Settle ends the story after a run: the apps work on a moment, the producer stops, billing
// reads everything left, and Report writes what moved and checks nothing was lost, doubled
// or left at a wrong position.
func (e *Estate) Settle(ctx context.Context, w io.Writer, took time.Duration) (ok bool, err error) {
	time.Sleep(time.Second)
	if _, err := e.Producer.Scale(ctx, 0); err != nil {
		return false, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.Ledger.Counts().Lost > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := e.Consumer.Scale(ctx, 0); err != nil {
		return false, err
	}
	return Report(ctx, w, Migration{
		Origin: e.Origin.Addr, Target: e.Target.Addr, Seeded: e.Seeded, Took: took, Apps: e.Ledger.Counts(), Paused: e.Producer.Paused(),
	})
}

// Close stops the apps and the clusters.
func (e *Estate) Close() {
	if e.Producer != nil {
		_, _ = e.Producer.Scale(context.Background(), 0)
	}
	if e.Consumer != nil {
		_, _ = e.Consumer.Scale(context.Background(), 0)
	}
	if e.Control != nil {
		e.Control.Close()
	}
	for _, c := range []*Cluster{e.Origin, e.Target} {
		if c != nil {
			c.Close()
		}
	}
}
