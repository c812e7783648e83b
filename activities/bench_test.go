package activities

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/test/bench"
)

// standbyWithGroups is a kfake origin whose orders topic (partitions x 10 records) the builtin
// mirror copied to a kfake target, with groups committed at positions all over it, and the
// step input of a step over that flow.
func standbyWithGroups(b *testing.B, groups, partitions int) runbook.StepInput {
	b.Helper()
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
	if _, err := oadm.CreateTopic(ctx, int32(partitions), 1, nil, "orders"); err != nil {
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
				if p.Records >= int64(partitions*10) {
					cancel()
				}
			},
		})
	}()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return runbook.StepInput{StepID: "translate", Replication: rep, Clusters: map[string]*runbook.Cluster{
		"origin": {Bootstrap: []string{origin}}, "target": {Bootstrap: []string{target}},
	}, With: map[string]any{"force": true}}
}

// BenchmarkGroupsTranslate moves 2,000 groups x 100 partitions (goal: under 10 s) through
// the groups.translate activity, on kfake clusters mirrored by the builtin engine.
func BenchmarkGroupsTranslate(b *testing.B) {
	const groups, partitions = 2000, 100
	in := standbyWithGroups(b, groups, partitions)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{}
	env.RegisterActivity(a.groupsTranslate)
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

// BenchmarkTenThousandGroups runs groups.translate and drill.measure over 10,000 groups
// (10 partitions each) of a builtin-mirrored standby, and reports each one's seconds.
func BenchmarkTenThousandGroups(b *testing.B) {
	const groups, partitions = 10_000, 10
	in := standbyWithGroups(b, groups, partitions)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{}
	env.RegisterActivity(a.groupsTranslate)
	env.RegisterActivity(a.drillMeasure)
	drill := in
	drill.StepID, drill.With = "drill", nil
	for b.Loop() {
		start := time.Now()
		if _, err := env.ExecuteActivity(a.groupsTranslate, in); err != nil {
			b.Fatal(err)
		}
		translated := time.Since(start)
		start = time.Now()
		v, err := env.ExecuteActivity(a.drillMeasure, drill)
		if err != nil {
			b.Fatal(err)
		}
		var res runbook.StepResult
		if err := v.Get(&res); err != nil {
			b.Fatal(err)
		}
		if m := res.Outputs["missing"]; m != float64(0) && m != int64(0) && m != 0 {
			b.Fatalf("the drill found %v groups missing on the target after the translation", m)
		}
		drilled := time.Since(start)
		b.ReportMetric(translated.Seconds(), "translate-s")
		b.ReportMetric(drilled.Seconds(), "drill-s")
		bench.Print(os.Stdout, "10,000 groups x 10 partitions on a builtin-mirrored standby, kfake",
			bench.Row{Figure: "groups.translate", Value: translated.Round(time.Millisecond).String()},
			bench.Row{Figure: "drill.measure (with trial reads)", Value: drilled.Round(time.Millisecond).String()})
	}
}
