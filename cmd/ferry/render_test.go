package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/workflows"
)

// Status says when a step began riding out a fault and why, shows a mirror's restarts, and
// prints numbers for people.
func TestRenderShowsFaultsAndHumanNumbers(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.Local)
	started, since := now.Add(-time.Minute), now.Add(-40*time.Second)
	st := &workflows.Status{RunID: "r", Runbook: "migrate", Phase: workflows.PhaseRunning, StartedAt: started, Steps: []*workflows.StepState{
		{ID: "mirror", Uses: "mirror.start", Status: workflows.StepSucceeded, StartedAt: &started, EndedAt: &started},
		{ID: "caught_up", Uses: "mirror.wait", Status: workflows.StepRetrying, StartedAt: &started, Attempts: 5, RetryingSince: &since,
			LastError: "cluster target (127.0.0.1:9092) unreachable: connection refused"},
	}}
	pend := map[string]*activityInfo{"mirror": {Attempt: 3, LastHeartbeat: since, LastFailure: "write offset syncs: broker closed the connection",
		Progress: map[string]any{"bytes": 2.99359232e+08, "records": 292343.0, "lag": 12.0, "rate": 0.0,
			"stalled": map[string]any{"since": since.UTC().Format(time.RFC3339), "at": "orders/2@1200", "cause": "target broker 127.0.0.1:9092 at 11:59:21: connection refused"}}}}
	out := render(st, pend, now)
	for _, want := range []string{
		"bytes=299MB lag=12 rate=0/s records=292343",
		"stalled since 11:59:20 (40s ago) at orders/2@1200, 0 records/s: target broker 127.0.0.1:9092 at 11:59:21: connection refused",
		"restarting (attempt 3) since 11:59:20 (40s ago): write offset syncs: broker closed the connection",
		"attempt 5",
		"retrying since 11:59:20 (40s ago): cluster target (127.0.0.1:9092) unreachable: connection refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "e+08") {
		t.Errorf("a number in exponent notation:\n%s", out)
	}
}

// A finished step's outputs show on one line below it, long values counted, not dumped.
func TestRenderShowsStepOutputs(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.Local)
	started := now.Add(-time.Minute)
	offsets := map[string]any{}
	for _, p := range []string{"0", "1", "2", "3", "4", "5"} {
		offsets["billing/orders/"+p] = "12 -> 12"
	}
	st := &workflows.Status{RunID: "r", Runbook: "migrate", Phase: workflows.PhaseSucceeded, StartedAt: started, EndedAt: now, Steps: []*workflows.StepState{
		{ID: "check", Uses: "kafka.check", Status: workflows.StepSucceeded, StartedAt: &started, EndedAt: &now,
			Outputs: map[string]any{"brokers": map[string]any{"origin": 3.0, "target": 3.0}}},
		{ID: "topics", Uses: "topics.sync", Status: workflows.StepSucceeded, StartedAt: &started, EndedAt: &now,
			Outputs: map[string]any{"created": []any{"orders", "payments"}, "grown": []any{}, "diff": "+ orders: 6 partitions\n+ payments: 3 partitions\n"}},
		{ID: "translate", Uses: "groups.translate", Status: workflows.StepSucceeded, StartedAt: &started, EndedAt: &now,
			Outputs: map[string]any{"groups": []any{"billing"}, "partitions": 6.0, "offsets": offsets, "checkpoints": 6.0}},
	}}
	out := render(st, nil, now)
	for _, want := range []string{
		"brokers={origin:3,target:3}",
		"created=[orders,payments] diff=(2 lines) grown=[]",
		"checkpoints=6 groups=[billing] offsets=(6) partitions=6",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// Long steps draw a bar: the mirror's catch-up with its rate and ETA, parity with the bytes
// compared (the details as a heartbeat carries them, decoded from JSON).
func TestRenderDrawsProgressBars(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.Local)
	started := now.Add(-3 * time.Second)
	st := &workflows.Status{RunID: "r", Runbook: "migrate", Phase: workflows.PhaseRunning, StartedAt: started, Steps: []*workflows.StepState{
		{ID: "caught_up", Uses: "mirror.wait", Status: workflows.StepRunning, StartedAt: &started},
		{ID: "parity", Uses: "verify.parity", Status: workflows.StepRunning, StartedAt: &started},
	}}
	pend := map[string]*activityInfo{
		"caught_up": {Progress: map[string]any{"done": 7500.0, "total": 10000.0, "lag": 2500.0, "maxLag": 0.0, "rate": 2500.0, "eta": "1s"}},
		"parity":    {Progress: map[string]any{"phase": "compare", "done": 1000.0, "total": 4000.0, "bytes": 1.5e6}},
	}
	out := render(st, pend, now)
	for _, want := range []string{
		"[███████████████░░░░░]  75% eta=1s lag=2500 maxLag=0 rate=2500/s",
		"[█████░░░░░░░░░░░░░░░]  25% bytes=1.5MB phase=compare",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// A sharded mirror's copy activities read as one progress: sums, pooled laggards, and the
// state of a shard that is restarting.
func TestMergeShards(t *testing.T) {
	now := time.Now()
	got := mergeShards([]*activityInfo{
		{Attempt: 1, State: "started", LastHeartbeat: now, Progress: map[string]any{"records": 100.0, "lag": 5.0, "partitions": 4.0, "behind": []any{"orders/1: 5"}, "groupSync": "ok"}},
		{Attempt: 2, State: "scheduled", LastHeartbeat: now.Add(-time.Minute), LastFailure: "heartbeat timeout", Progress: map[string]any{"records": 50.0, "lag": 7.0, "partitions": 4.0, "behind": []any{"orders/2: 7"}}},
	})
	p := got.Progress
	if p["records"] != 150.0 || p["lag"] != 12.0 || p["partitions"] != 8.0 || p["shards"] != 2 || len(p["behind"].([]any)) != 2 || p["groupSync"] != "ok" {
		t.Fatalf("progress %v", p)
	}
	if got.State != "scheduled" || got.Attempt != 2 || !got.LastHeartbeat.Equal(now.Add(-time.Minute)) || got.LastFailure == "" {
		t.Fatalf("merged %+v", got)
	}
	if one := (&activityInfo{State: "started"}); mergeShards([]*activityInfo{one}) != one || mergeShards(nil) != nil {
		t.Fatal("one shard or none")
	}
}
