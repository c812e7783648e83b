package metrics

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Every name in Names is a family a scrape shows once its source reports, in the
// exposition format, with label values as given (a runbook "approval-demo" is not renamed).
func TestEveryNameIsExported(t *testing.T) {
	m := New()
	defer m.Close()
	mir := m.Mirror("run-1")
	mir.Report([]PartitionProgress{{Topic: "orders", Partition: 0, Records: 10, Bytes: 100, Lag: 2, RPO: time.Second}}, time.Second, false)
	m.GroupBehind("origin", "billing", 3)
	m.Drill("dr-drill", 2*time.Second, true)
	m.CountRuns(func(context.Context) (map[RunKey]int, error) {
		return map[RunKey]int{{Runbook: "approval-demo", Phase: "waiting for approval"}: 1}, nil
	}, "waiting for approval")
	m.SDK().WithTags(map[string]string{"runbook": "approval-demo", "step": "gate"}).Timer(StepDuration).Record(time.Second)

	srv, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	deadline := time.Now().Add(10 * time.Second) // the SDK's series reach the registry each second
	for {
		resp, err := http.Get(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, n := range Names {
			if _, ok := fams[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			step := fams[StepDuration].GetMetric()[0]
			if !slices.ContainsFunc(step.GetLabel(), func(l *dto.LabelPair) bool { return l.GetValue() == "approval-demo" }) {
				t.Errorf("the runbook label was renamed: %v", step.GetLabel())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not exported: %s", strings.Join(missing, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A stopped mirror leaves no series behind.
	mir.Forget()
	fams, _ := m.registry.Gather()
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "ferry_mirror_") {
			t.Errorf("%s still has %d series after the mirror stopped", f.GetName(), len(f.GetMetric()))
		}
	}
}

// A mirror over more partitions than MaxPartitionSeries reports per topic, and counters grow
// by what was copied since the last report, never backwards.
func TestMirrorSeriesAreBounded(t *testing.T) {
	m := New()
	defer m.Close()
	mir := m.Mirror("big")
	parts := make([]PartitionProgress, MaxPartitionSeries+1)
	for i := range parts {
		parts[i] = PartitionProgress{Topic: "t", Partition: int32(i), Records: 1}
	}
	mir.Report(parts, -1, false)
	for i := range parts {
		parts[i].Records = 2
	}
	mir.Report(parts, -1, false)
	fams, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != MirrorRecordsCopied {
			continue
		}
		if len(f.GetMetric()) != 1 {
			t.Fatalf("%d series, want one for the topic", len(f.GetMetric()))
		}
		if v := f.GetMetric()[0].GetCounter().GetValue(); v != float64(2*len(parts)) {
			t.Fatalf("copied %v, want %d", v, 2*len(parts))
		}
	}
}
