// Package integration runs Ferry on a real Temporal server (embedded, SQLite) — the only
// test package that links go.temporal.io/server, to keep build times down.
package integration

import (
	"github.com/ferryhq/ferry/internal/ports"
	"github.com/ferryhq/ferry/internal/sandbox"

	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/temporalserver"
	"github.com/ferryhq/ferry/internal/worker"
	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

// Test-only step types.
func init() {
	runbook.Register(runbook.StepType{Name: "test.record", Summary: "records that it ran"})
	runbook.Register(runbook.StepType{Name: "test.block", Summary: "heartbeats progress until released or cancelled", HeartbeatTimeout: 5 * time.Second})
}

// steps records which test steps ran, and holds test.block steps until released.
type steps struct {
	mu      sync.Mutex
	ran     []string
	release chan struct{}
}

func newSteps() *steps { return &steps{release: make(chan struct{})} }

func (s *steps) impl() map[string]activities.Step {
	return map[string]activities.Step{
		"test.record": func(_ context.Context, in runbook.StepInput) (runbook.StepResult, error) {
			s.mu.Lock()
			s.ran = append(s.ran, in.StepID)
			s.mu.Unlock()
			return runbook.StepResult{}, nil
		},
		"test.block": func(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
			for i := 0; ; i++ {
				activity.RecordHeartbeat(ctx, map[string]any{"done": i % 100, "total": 100})
				select {
				case <-s.release:
					return runbook.StepResult{}, nil
				case <-ctx.Done():
					return runbook.StepResult{}, ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
		},
	}
}

func (s *steps) order() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ran...)
}

// env is a running embedded server with a client and a worker.
type env struct {
	t      *testing.T
	server *temporalserver.Server
	client client.Client
	worker sdkworker.Worker
	steps  *steps
	db     string
	// sandboxes is where the worker finds the sample runbooks' sandbox clusters and apps.
	sandboxes *sandbox.Directory
}

func quiet() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// start runs a server on db ("" for memory) and a worker with the test steps.
func start(t *testing.T, db string, st *steps) *env {
	t.Helper()
	srv, err := temporalserver.Start(temporalserver.Options{
		DatabaseFile:     db,
		SearchAttributes: map[string]enumspb.IndexedValueType{workflows.SearchAttributeRunbook: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, server: srv, client: c, steps: st, db: db, sandboxes: &sandbox.Directory{}}
	e.startWorker()
	t.Cleanup(e.stop)
	return e
}

func (e *env) startWorker() {
	e.worker = worker.New(e.client, worker.Options{Activities: &activities.Activities{Sandboxes: e.sandboxes}, ExtraSteps: e.steps.impl()})
	if err := e.worker.Start(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) stop() {
	if e.worker != nil {
		e.worker.Stop()
		e.worker = nil
	}
	if e.client != nil {
		e.client.Close()
		e.client = nil
	}
	if e.server != nil {
		_ = e.server.Stop()
		e.server = nil
	}
}

func plan(t testing.TB, src string) *runbook.Plan {
	t.Helper()
	return compile(t, "it.yaml", "apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: it}\n"+src)
}

func compile(t testing.TB, name, src string) *runbook.Plan {
	t.Helper()
	rb, err := runbook.Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rb.Compile([]byte(src), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) run(id string, in workflows.Input) client.WorkflowRun {
	e.t.Helper()
	r, err := e.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.RunbookWorkflowName, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) status(id string) *workflows.Status {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := e.client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		e.t.Fatal(err)
	}
	var s workflows.Status
	if err := v.Get(&s); err != nil {
		e.t.Fatal(err)
	}
	return &s
}

// waitFor polls the run's status until cond holds.
func (e *env) waitFor(id, what string, cond func(*workflows.Status) bool) *workflows.Status {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := e.status(id)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s: timed out waiting for %s; status %+v", id, what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) update(id, name string, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := e.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, Args: args, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return nil, err
	}
	var out any
	err = h.Get(ctx, &out)
	return out, err
}

func step(s *workflows.Status, id string) *workflows.StepState {
	for _, st := range s.Steps {
		if st.ID == id {
			return st
		}
	}
	return &workflows.StepState{Status: "absent"}
}

func freePort(t testing.TB) int {
	p, err := ports.Free()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tempDB(t testing.TB) string { return filepath.Join(t.TempDir(), "temporal.db") }

var errTimeout = errors.New("timeout")

// history is a run's whole history as JSON.
func (e *env) history(id string) []byte {
	e.t.Helper()
	it := e.client.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

var recordFlag = flag.Bool("record", false, "write the histories that workflows' replay test replays")

// recordHistory saves a run's history for the replay test in package workflows, which
// fails when a code change makes old histories non-deterministic (add workflow.GetVersion).
func recordHistory(t *testing.T, e *env, id, path string) {
	if !*recordFlag {
		return
	}
	b := e.history(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
