package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/workflows"
)

// status is a finished migration as the status query returns it: decoded from JSON, so
// numbers are float64 and lists []any, exactly what ferry report reads.
func status(t *testing.T) *workflows.Status {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(s float64) *time.Time { v := t0.Add(time.Duration(s * float64(time.Second))); return &v }
	var lag []any
	for i := range 20 {
		lag = append(lag, []any{at(3 + float64(i)*0.5).UnixMilli(), 1900 - 100*i})
	}
	st := &workflows.Status{RunID: "m1", Runbook: "migrate", Phase: workflows.PhaseSucceeded, StartedAt: t0, EndedAt: *at(30),
		Steps: []*workflows.StepState{
			{ID: "mirror", Uses: "mirror.start", Status: workflows.StepSucceeded, StartedAt: at(1), EndedAt: at(2)},
			{ID: "warm", Uses: "mirror.wait", Status: workflows.StepSucceeded, StartedAt: at(2), EndedAt: at(13), Outputs: map[string]any{"lag": 0, "lagSeries": lag}},
			{ID: "gate", Uses: "approval", Status: workflows.StepSucceeded, StartedAt: at(13), EndedAt: at(14), Approval: &workflows.Approval{By: "ops"}},
			{ID: "pause_producer", Uses: "apps.scale", Status: workflows.StepSucceeded, StartedAt: at(14), EndedAt: at(15), Outputs: map[string]any{"replicas": 0, "previous": 1}},
			{ID: "translate", Uses: "groups.translate", Status: workflows.StepSucceeded, StartedAt: at(16), EndedAt: at(17),
				Outputs: map[string]any{"offsets": []any{"billing orders/0: 40 -> 40", "billing orders/1: 1200 -> 1187", "not a line"}}},
			{ID: "parity", Uses: "verify.parity", Status: workflows.StepSucceeded, StartedAt: at(17), EndedAt: at(19),
				Outputs: map[string]any{"partitions": 2, "records": 1240, "table": []any{
					map[string]any{"origin": "orders/0", "target": "orders/0", "records": 40, "digest": "0123456789abcdef", "timestamps": true},
					map[string]any{"origin": "orders/1", "target": "orders/1", "records": 1200, "digest": "fedcba9876543210", "timestamps": false},
				}}},
			{ID: "drill", Uses: "drill.measure", Status: workflows.StepFailed, StartedAt: at(19), EndedAt: at(20), LastError: "drill failed: rpo 2m is over maxRPO 1m",
				Outputs: map[string]any{"rpo": "2m0s", "readTime": "350ms", "behind": 3}},
			{ID: "resume_producer", Uses: "apps.scale", Status: workflows.StepSucceeded, StartedAt: at(21), EndedAt: at(22.5), Outputs: map[string]any{"replicas": 1, "previous": 0}},
			{ID: "cleanup", Uses: "topics.cleanup", Status: workflows.StepPending},
		}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var decoded workflows.Status
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	return &decoded
}

func TestFromStatus(t *testing.T) {
	r := FromStatus(status(t), "Move orders.", "http://127.0.0.1:8233/x", time.Now())
	if len(r.Steps) != 9 || r.Steps[2].Note != "approved by ops" {
		t.Fatalf("steps: %+v", r.Steps)
	}
	if len(r.Lag) != 20 || r.Lag[0].Value != 1900 || r.Lag[19].Value != 0 {
		t.Fatalf("lag: %+v", r.Lag)
	}
	if p := r.Pause; p == nil || p.Duration != 8500*time.Millisecond || p.Stopped != "pause_producer" || p.Resumed != "resume_producer" {
		t.Fatalf("pause: %+v", r.Pause)
	}
	want := []GroupMove{{"billing", "orders", 0, 40, 40}, {"billing", "orders", 1, 1200, 1187}}
	if len(r.Groups) != 2 || r.Groups[0] != want[0] || r.Groups[1] != want[1] {
		t.Fatalf("groups: %+v", r.Groups)
	}
	if p := r.Parity; p == nil || !p.Equal || p.Records != 1240 || len(p.Rows) != 2 || p.Rows[1].Timestamps {
		t.Fatalf("parity: %+v", r.Parity)
	}
	if len(r.Drills) != 1 || r.Drills[0].Passed || r.Drills[0].RPO != 2*time.Minute || r.Drills[0].RTO != 350*time.Millisecond || r.Drills[0].Behind != 3 {
		t.Fatalf("drills: %+v", r.Drills)
	}
}

// The page stands alone (no script, nothing fetched) and holds the charts and tables.
func TestHTML(t *testing.T) {
	var b bytes.Buffer
	if err := FromStatus(status(t), "Move <orders>.", "", time.Now()).HTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<svg id="timeline"`, `<svg id="lag-chart"`, "<polyline", `id="groups"`, "1187", "fedcba9876543210",
		"without timestamps", "Move &lt;orders&gt;.", "8.5s", "failed", "2m00s", "350ms"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, never := range []string{"<script", "src=", "href=\"http", "@import"} {
		if strings.Contains(page, never) {
			t.Errorf("the page is not self-contained: %q", never)
		}
	}
	if n := strings.Count(page, `<g class="step `); n != 8 {
		t.Errorf("%d bars on the timeline, want 8 (the pending step has none)", n)
	}
}

func TestMarkdownAndJSON(t *testing.T) {
	r := FromStatus(status(t), "", "", time.Now())
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| billing | orders | 1 | 1200 | 1187 |", "█", "from 1900 records (peak) to 0", "**8.5s**", "| `drill` | 2m00s | 350ms |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := r.JSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Groups) != 2 || back.Parity.Records != 1240 {
		t.Fatalf("json: %v %+v", err, back)
	}
}

func TestScheduleHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	r := &Report{Schedule: "nightly", Runbook: "drill", Generated: t0, History: []DrillRun{
		{Run: "nightly-1", Started: t0, Phase: "succeeded", Drills: []Drill{{Step: "measure", RPO: 1500 * time.Millisecond, Passed: true}}},
		{Run: "nightly-2", Started: t0.Add(24 * time.Hour), Phase: "failed", Drills: []Drill{{Step: "measure", RPO: 5 * time.Minute}}},
		{Run: "nightly-3", Started: t0.Add(48 * time.Hour), Phase: "failed"},
	}}
	var b bytes.Buffer
	if err := r.HTML(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<svg id="rpo-chart"`, "nightly-2", "5m00s", "no drill measured"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the schedule page lacks %q", want)
		}
	}
	if strings.Count(b.String(), "<circle") != 2 {
		t.Errorf("want a point per run that measured: %d", strings.Count(b.String(), "<circle"))
	}
}

// A failback's report says what was copied back and every stranded record's partition and
// where it was kept, in HTML and Markdown.
func TestFailbackSection(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st := &workflows.Status{RunID: "fb", Runbook: "failback", Phase: workflows.PhaseSucceeded, StartedAt: t0, EndedAt: t0.Add(time.Minute),
		Steps: []*workflows.StepState{{ID: "since_failover", Uses: "mirror.failback", Status: workflows.StepSucceeded, StartedAt: &t0, EndedAt: &t0,
			Outputs: map[string]any{"toCopy": float64(320), "stranded": float64(291), "kept": float64(291), "keptIn": []any{"orders.stranded"},
				"strandedPartitions": []any{"orders/0: 110 records at offsets 244-353", "orders/1: 181 records at offsets 260-440, billing had read 3"}}}}}
	r := FromStatus(st, "", "", t0)
	if f := r.Failback; f == nil || f.ToCopy != 320 || f.Stranded != 291 || f.Kept != 291 || len(f.Partitions) != 2 || f.KeptIn[0] != "orders.stranded" {
		t.Fatalf("failback: %+v", r.Failback)
	}
	var h, m bytes.Buffer
	if err := r.HTML(&h); err != nil {
		t.Fatal(err)
	}
	if err := r.Markdown(&m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<span id="failback-stranded">291</span> records were stranded`, "<code>orders.stranded</code> for replay", "billing had read 3"} {
		if !strings.Contains(h.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if !strings.Contains(m.String(), "291 stranded on the old primary, 291 kept aside in `orders.stranded`.\n- orders/0: 110 records") {
		t.Errorf("Markdown:\n%s", m.String())
	}
}
