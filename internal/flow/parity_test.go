package flow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// Parity never passes on nothing: a partition the builtin mirror never copied (no offset
// sync) while the origin holds records there fails, naming it; copied, it passes.
func TestParityFailsOnAPartitionNeverCopied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	origin, oadm := kfakeCluster(t)
	target, tadm := kfakeCluster(t)
	for _, adm := range []*kadm.Client{oadm, tadm} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
			t.Fatal(err)
		}
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(origin), kgo.DefaultProduceTopic("orders"))
	defer cl.Close()
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	f := &Flow{Rep: &runbook.Replication{Origin: "na", Target: "eu", Topics: runbook.Patterns{Include: []string{"orders"}}},
		OriginOpts: []kgo.Opt{kgo.SeedBrokers(origin)}, TargetOpts: []kgo.Opt{kgo.SeedBrokers(target)}, Origin: oadm, Target: tadm, Exact: true}
	if _, err := f.VerifyParity(ctx, nil); err == nil || !strings.Contains(err.Error(), "orders/0: origin 5 records") {
		t.Fatalf("parity with nothing copied: %v", err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- mirror.Run(mctx, mirror.Config{Origin: f.OriginOpts, Target: f.TargetOpts, SyncTopic: f.Rep.SyncTopic(),
			Select: func(t string) bool { return t == "orders" }, Discover: 50 * time.Millisecond})
	}()
	for ctx.Err() == nil {
		if e, err := tadm.ListEndOffsets(ctx, "orders"); err == nil && e["orders"][0].Offset == 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p, err := f.VerifyParity(ctx, nil); err != nil || p.Records != 5 {
		t.Fatalf("parity after the copy: %+v %v", p, err)
	}
}
