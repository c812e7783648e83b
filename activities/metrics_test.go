package activities

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/metrics"
	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// A MirrorMaker 2 mirror copies in Connect, so Ferry measures it in Kafka for /metrics: lag
// per partition from the offset syncs and end offsets, and the age of the flow's last
// heartbeat on the target; no RPO (it cannot tell) and no series once it stops.
func TestMeasureMirrorReportsLagAndHeartbeat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clusters := map[string]string{}
	for _, name := range []string{"origin", "target"} {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clusters[name] = c.ListenAddrs()[0]
	}
	src := `apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: standby}
clusters:
  origin: {bootstrap: "` + clusters["origin"] + `"}
  target: {bootstrap: "` + clusters["target"] + `"}
replication: {origin: origin, target: target, topics: {include: [orders]}}
steps:
  - {id: mirror, uses: mirror.start}
`
	rb, err := runbook.Parse("standby.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rb.Compile([]byte(src), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := plan.Replication
	produce := func(n int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(clusters["origin"]), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("order")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(10)
	// Copy the ten, with heartbeats, then stop: five more records are the lag.
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- mirror.Run(mctx, mirror.Config{Origin: []kgo.Opt{kgo.SeedBrokers(clusters["origin"])}, Target: []kgo.Opt{kgo.SeedBrokers(clusters["target"])},
			SyncTopic: rep.SyncTopic(), Select: rep.Topics.Select, Rename: rep.TargetTopic, Discover: 100 * time.Millisecond,
			Heartbeat: &mirror.Heartbeat{Source: rep.OriginAlias(), Target: rep.Target}, HeartbeatInterval: 100 * time.Millisecond,
			Progress: func(p mirror.Progress) {
				if p.Records == 10 {
					stop()
				}
			}, ProgressInterval: 50 * time.Millisecond})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	produce(5)

	a := &Activities{Metrics: metrics.New()}
	defer a.Metrics.Close()
	spec := runbook.MirrorSpec{RunID: "standby-1", Runbook: "standby", Replication: rep, Clusters: plan.Clusters}
	end := a.measureMirror(ctx, spec, 50*time.Millisecond)
	scrape := func() string {
		rec := httptest.NewRecorder()
		a.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	var lag float64
	var text string
	for ctx.Err() == nil {
		text = scrape()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		lag = 0
		for _, m := range fams[metrics.MirrorLag].GetMetric() {
			lag += m.GetGauge().GetValue()
		}
		hb := fams[metrics.MirrorHeartbeatAge].GetMetric()
		if lag == 5 && len(hb) == 1 {
			if age := hb[0].GetGauge().GetValue(); age < 0 || age > 30 {
				t.Errorf("heartbeat age %v s", age)
			}
			if _, ok := fams[metrics.MirrorRPO]; ok {
				t.Error("an RPO series for an engine that cannot tell it")
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lag != 5 {
		t.Fatalf("lag %v, want 5:\n%s", lag, text)
	}
	end()
	if strings.Contains(scrape(), "ferry_mirror_") {
		t.Fatalf("series left after the mirror stopped:\n%s", scrape())
	}
}
