package flow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// A drill on a standby that is a minute behind, with one group lagging and one position
// missing: it measures all three, reads at the positions, changes nothing, and fails when
// told the RPO may not exceed 10s. The same on a prefixed standby (na.orders).
func TestDrillMeasure(t *testing.T) {
	for _, naming := range []string{"identity", "prefixed"} {
		t.Run(naming, func(t *testing.T) { testDrillMeasure(t, naming) })
	}
}

func testDrillMeasure(t *testing.T, naming string) {
	rep := &runbook.Replication{Origin: "na", Target: "eu", Naming: naming, Topics: runbook.Patterns{Include: []string{"orders"}}, Groups: runbook.Patterns{Include: []string{"billing"}}}
	tt := rep.TargetTopic("orders")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	origin, oadm := kfakeCluster(t)
	target, tadm := kfakeCluster(t)
	if _, err := oadm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce := func(n int, ts time.Time) {
		cl, _ := kgo.NewClient(kgo.SeedBrokers(origin), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		defer cl.Close()
		for i := range n {
			for p := range int32(2) {
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: p, Value: []byte{byte(i)}, Timestamp: ts}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	produce(50, time.Now().Add(-time.Hour))
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- mirror.Run(mctx, mirror.Config{Origin: []kgo.Opt{kgo.SeedBrokers(origin)}, Target: []kgo.Opt{kgo.SeedBrokers(target)},
			SyncTopic: "mm2-offset-syncs.na.internal", Select: func(t string) bool { return t == "orders" }, Rename: rep.TargetTopic, Discover: 50 * time.Millisecond})
	}()
	for ctx.Err() == nil {
		if e, err := tadm.ListEndOffsets(ctx, tt); err == nil && e[tt][0].Offset == 50 && e[tt][1].Offset == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond) // Kafka keeps milliseconds
	produce(3, now.Add(-time.Minute))            // written a minute before the drill, not copied: the RPO
	commit := func(adm *kadm.Client, offs ...kadm.Offset) {
		o := kadm.Offsets{}
		for _, x := range offs {
			x.LeaderEpoch = -1
			o.Add(x)
		}
		if _, err := adm.CommitOffsets(ctx, "billing", o); err != nil {
			t.Fatal(err)
		}
	}
	commit(oadm, kadm.Offset{Topic: "orders", Partition: 0, At: 40}, kadm.Offset{Topic: "orders", Partition: 1, At: 50})
	commit(tadm, kadm.Offset{Topic: tt, Partition: 0, At: 30}) // 10 behind; partition 1 has none

	f := &Flow{
		Rep:        rep,
		OriginOpts: []kgo.Opt{kgo.SeedBrokers(origin)}, TargetOpts: []kgo.Opt{kgo.SeedBrokers(target)},
		Origin: oadm, Target: tadm, Exact: true,
	}
	d, err := f.MeasureDrill(ctx, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if d.RPO != time.Minute {
		t.Fatalf("rpo %v, want the oldest uncopied record's age: 1m", d.RPO)
	}
	if d.Lag != 6 || d.Behind != 10 || d.Missing != 1 || d.ReadTime == 0 {
		t.Fatalf("drill %+v", d)
	}
	t.Logf("report: %v", d.Report)
	got, err := tadm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := got.Lookup(tt, 0); c.At != 30 {
		t.Fatalf("the drill moved billing on the target to %d", c.At)
	}

	if err := d.Check(10*time.Second, nil); err == nil || !strings.Contains(err.Error(), "is over maxRPO 10s") {
		t.Fatalf("maxRPO 10s: %v", err)
	}
	var ae *ActionError
	if err := d.Check(0, new(int64(5))); !errors.As(err, &ae) || !strings.Contains(ae.Msg, "a group is 10 records behind, over maxBehind 5") {
		t.Fatalf("maxBehind 5: %v", err)
	}
	if err := d.Check(2*time.Minute, nil); err != nil {
		t.Fatalf("within the limits: %v", err)
	}
}
