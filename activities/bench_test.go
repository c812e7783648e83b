package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// BenchmarkGroupsTranslate moves 2,000 groups x 100 partitions (goal: under 10 s) through
// the groups.translate activity, on kfake clusters mirrored by the builtin engine.
func BenchmarkGroupsTranslate(b *testing.B) {
	const groups, partitions = 2000, 100
	ctx := context.Background()
	newCluster := func() string {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		return c.ListenAddrs()[0]
	}
	origin, target := newCluster(), newCluster()
	ocl, _ := kgo.NewClient(kgo.SeedBrokers(origin), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer ocl.Close()
	oadm := kadm.NewClient(ocl)
	if _, err := oadm.CreateTopic(ctx, partitions, 1, nil, "orders"); err != nil {
		b.Fatal(err)
	}
	var rs []*kgo.Record
	for p := range int32(partitions) {
		for i := range 10 {
			rs = append(rs, &kgo.Record{Topic: "orders", Partition: p, Value: fmt.Appendf(nil, "%d", i)})
		}
	}
	if err := ocl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	for g := range groups {
		offs := kadm.Offsets{}
		for p := range int32(partitions) {
			offs.Add(kadm.Offset{Topic: "orders", Partition: p, At: int64((g + int(p)) % 11), LeaderEpoch: -1})
		}
		if _, err := oadm.CommitOffsets(ctx, fmt.Sprintf("group-%04d", g), offs); err != nil {
			b.Fatal(err)
		}
	}
	rep := &runbook.Replication{Origin: "origin", Target: "target"}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- mirror.Run(mctx, mirror.Config{
			Origin: []kgo.Opt{kgo.SeedBrokers(origin)}, Target: []kgo.Opt{kgo.SeedBrokers(target)},
			Select: rep.Topics.Select, SyncTopic: rep.SyncTopic(), ProgressInterval: 10 * time.Millisecond,
			Progress: func(p mirror.Progress) {
				if p.Records >= partitions*10 {
					cancel()
				}
			},
		})
	}()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{}
	env.RegisterActivity(a.groupsTranslate)
	in := runbook.StepInput{StepID: "translate", Replication: rep, Clusters: map[string]*runbook.Cluster{
		"origin": {Bootstrap: []string{origin}}, "target": {Bootstrap: []string{target}},
	}, With: map[string]any{"force": true}}
	for b.Loop() {
		v, err := env.ExecuteActivity(a.groupsTranslate, in)
		if err != nil {
			b.Fatal(err)
		}
		var res runbook.StepResult
		if err := v.Get(&res); err != nil {
			b.Fatal(err)
		}
		if res.Outputs["partitions"] != float64(groups*partitions) && res.Outputs["partitions"] != groups*partitions {
			b.Fatalf("translated %v partitions", res.Outputs["partitions"])
		}
	}
	b.ReportMetric(float64(groups*partitions), "partitions/op")
}
