package runbook

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .want files of testdata/bad")

// TestBadRunbooks parses every runbook in testdata/bad and compares the complete error list,
// positions included, with its .want file.
func TestBadRunbooks(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 30 {
		t.Fatalf("want at least 30 bad runbooks, have %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, _, err := LoadFile(f)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("no error for a bad runbook (err %v)", err)
			}
			got := errs.Error() + "\n"
			wantFile := strings.TrimSuffix(f, ".yaml") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors differ\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestSamplesAndREADMEValidate(t *testing.T) {
	files, _ := filepath.Glob("../runbooks/*.yaml")
	if len(files) == 0 {
		t.Fatal("no sample runbooks")
	}
	for _, f := range files {
		if _, _, err := LoadFile(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	rb, err := Parse("README.md", []byte(example))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if _, err := rb.Compile([]byte(example), nil, nil); err != nil {
		t.Fatalf("README example: %v", err)
	}
}

func TestSchemaUpToDate(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../runbooks/runbook.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
		t.Fatal("runbooks/runbook.schema.json is stale: run go tool task schema")
	}
}

func TestCompileParams(t *testing.T) {
	src := []byte(`apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: p}
params:
  n: {type: int, default: 3}
  topics: {type: list, default: [a, b]}
  region: {required: true, enum: [eu, us]}
  wait: {type: duration, default: 90s}
steps:
  - id: s
    uses: sleep
    with: {duration: "${{ params.wait }}"}
  - id: l
    uses: log
    with: {message: "n=${{ params.n }} topics=${{ params.topics }} in ${{ params.region }} after ${{ steps.s.status }}"}
`)
	rb, err := Parse("p.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Compile(src, nil, nil); err == nil || !strings.Contains(err.Error(), "required param has no value") {
		t.Fatalf("missing required param: %v", err)
	}
	if _, err := rb.Compile(src, nil, []string{"region=mars"}); err == nil || !strings.Contains(err.Error(), "not one of eu, us") {
		t.Fatalf("enum: %v", err)
	}
	if _, err := rb.Compile(src, nil, []string{"region=eu", "n=x"}); err == nil || !strings.Contains(err.Error(), "want an int") {
		t.Fatalf("int: %v", err)
	}
	if _, err := rb.Compile(src, map[string]any{"region": "eu", "bogus": 1}, nil); err == nil || !strings.Contains(err.Error(), `unknown param "bogus"`) {
		t.Fatalf("unknown values-file param: %v", err)
	}
	p, err := rb.Compile(src, map[string]any{"region": "us"}, []string{"n=7", "wait=2m"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Params["n"] != 7 || p.Params["region"] != "us" || p.Steps[0].With["duration"] != "2m0s" {
		t.Fatalf("params %v, sleep with %v", p.Params, p.Steps[0].With)
	}
	// Params-only templates are resolved in the plan; those reading steps wait for the run.
	if msg := p.Steps[1].With["message"]; msg != "n=${{ params.n }} topics=${{ params.topics }} in ${{ params.region }} after ${{ steps.s.status }}" {
		t.Fatalf("mixed template resolved too early: %v", msg)
	}
}

// TestBootstrapForms: Kafka's own comma-split string and a YAML list read the same, and a list
// item holding commas is split rather than dialled as one host name.
func TestBootstrapForms(t *testing.T) {
	for _, form := range []string{`"a:9092,b:9092, [::1]:9093"`, `[a:9092, "b:9092,[::1]:9093"]`, "\n      - a:9092\n      - b:9092\n      - \"[::1]:9093\""} {
		src := "apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: forms}\nclusters:\n  origin:\n    bootstrap: " + form + "\nsteps:\n  - {id: a, uses: noop}\n"
		rb, err := Parse("forms.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if got := strings.Join(rb.Clusters["origin"].Bootstrap, " "); got != "a:9092 b:9092 [::1]:9093" {
			t.Errorf("%s read as %q", form, got)
		}
	}
}

// A worker lost mid-step costs the step's heartbeat timeout, so no activity step may be
// planned without one (it would wait out its whole timeout instead).
func TestEveryActivityStepHasAHeartbeatTimeout(t *testing.T) {
	files, _ := filepath.Glob("../runbooks/*.yaml")
	for _, f := range files {
		rb, src, err := LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := rb.Compile(src, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		check := func(s *PlanStep) {
			if s.Uses != "" && !s.Control && s.HeartbeatTimeout.D() <= 0 {
				t.Errorf("%s: step %s (%s) has no heartbeat timeout", f, s.ID, s.Uses)
			}
		}
		Walk(plan.Steps, check)
		Walk(plan.Rollback, check)
	}
}

// A when: reading only params is decided at compile time, false included: a false param must
// skip the step, not drop the condition.
func TestWhenFromParams(t *testing.T) {
	src := []byte(`apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: t}
params:
  fail: {type: bool, default: true}
  n: {type: int, default: 3}
steps:
  - {id: check, uses: noop, when: "${{ params.fail }}"}
  - {id: count, uses: noop, when: "${{ params.n }}"}
  - {id: later, uses: noop, when: "${{ steps.check.status == 'succeeded' }}"}
`)
	rb, err := Parse("t.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, fail := range []bool{true, false} {
		p, err := rb.Compile(src, map[string]any{"fail": fail}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := EvalCondition(p.Steps[0].When, nil)
		if err != nil || ok != fail {
			t.Errorf("fail=%v: when %q gives %v, %v", fail, p.Steps[0].When, ok, err)
		}
		if p.Steps[1].When != "${{ params.n }}" || p.Steps[2].When != "${{ steps.check.status == 'succeeded' }}" {
			t.Errorf("kept conditions changed: %q, %q", p.Steps[1].When, p.Steps[2].When)
		}
	}
}

// In a two-way setup a flow never copies back what the reverse flow copied to its origin
// (<target>.<topic>), nor any flow's heartbeats.
func TestReplicationSkipsTheReverseFlow(t *testing.T) {
	rep := &Replication{Origin: "north_america", Target: "europe", Naming: "prefixed"}
	for topic, want := range map[string]bool{
		"orders": true, "europe.orders": false, "europe.heartbeats": false, "north_america.heartbeats": false,
		"heartbeats": false, "europeans": true, "mm2-offset-syncs.europe.internal": false,
	} {
		if got := rep.Replicates(topic); got != want {
			t.Errorf("%s: %v, want %v", topic, got, want)
		}
	}
}

func TestShardCount(t *testing.T) {
	for _, tc := range []struct {
		shards     string
		engine     Engine
		partitions int
		want       int
	}{
		{"", EngineBuiltin, 12, 1},
		{"auto", EngineBuiltin, 1000, 1},
		{"auto", EngineBuiltin, 1001, 2},
		{"", EngineBuiltin, 10_000, 10},
		{"", EngineBuiltin, 100_000, MaxAutoShards},
		{"", EngineConnect, 10_000, 1},
		{"4", EngineBuiltin, 3, 4},
	} {
		r := &Replication{Shards: tc.shards, Engine: tc.engine}
		if got := r.ShardCount(tc.partitions); got != tc.want {
			t.Errorf("shards %q, engine %s, %d partitions: %d shards, want %d", tc.shards, tc.engine, tc.partitions, got, tc.want)
		}
	}
}
