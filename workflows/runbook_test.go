package workflows_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

// Test-only step types: they let a runbook fail, or record the order in which steps ran.
func init() {
	runbook.Register(runbook.StepType{Name: "test.record", Summary: "records its step id", Outputs: []runbook.Output{{Name: "n"}}})
	runbook.Register(runbook.StepType{Name: "test.flaky", Summary: "fails its first attempts"})
}

type recorder struct {
	mu    sync.Mutex
	order []string
	fails map[string]int // step id -> attempts that fail
	// permanent marks steps whose failures retrying cannot fix.
	permanent map[string]bool
}

func (r *recorder) record(_ context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = append(r.order, in.StepID)
	return runbook.StepResult{Outputs: map[string]any{"n": len(r.order)}}, nil
}

func (r *recorder) flaky(_ context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = append(r.order, in.StepID)
	if in.Attempt <= r.fails[in.StepID] {
		if r.permanent[in.StepID] {
			return runbook.StepResult{}, temporal.NewNonRetryableApplicationError("not authorized", "Refused", nil)
		}
		return runbook.StepResult{}, errors.New("broker not available")
	}
	return runbook.StepResult{}, nil
}

func plan(t *testing.T, src string) *runbook.Plan {
	t.Helper()
	rb, err := runbook.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, err := rb.Compile([]byte(src), nil, nil)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func newEnv(t *testing.T, rec *recorder) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.RunbookWorkflowName})
	env.RegisterActivityWithOptions(rec.record, activity.RegisterOptions{Name: "test.record"})
	env.RegisterActivityWithOptions(rec.flaky, activity.RegisterOptions{Name: "test.flaky"})
	return env
}

func status(t *testing.T, env *testsuite.TestWorkflowEnvironment) *workflows.Status {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var s workflows.Status
	if err := v.Get(&s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func stepStatus(s *workflows.Status, id string) workflows.StepStatus {
	for _, st := range s.Steps {
		if st.ID == id {
			return st.Status
		}
	}
	return "absent"
}

const header = "apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: t}\n"

func TestSequenceParallelAndOutputs(t *testing.T) {
	rec := &recorder{}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - {id: a, uses: test.record}
  - id: block
    parallel:
      - {id: b, uses: test.record}
      - {id: c, uses: test.record}
  - {id: skipped, uses: test.record, when: "steps.a.outputs.n > 5"}
  - {id: d, uses: test.record, when: "steps.a.outputs.n == 1"}
  - {id: say, uses: log, with: {message: "a was ${{ steps.a.outputs.n }}"}}
`)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if rec.order[0] != "a" || rec.order[3] != "d" || len(rec.order) != 4 {
		t.Fatalf("order %v: want a, then b and c in any order, then d", rec.order)
	}
	s := status(t, env)
	if s.Phase != workflows.PhaseSucceeded || stepStatus(s, "skipped") != workflows.StepSkipped || stepStatus(s, "block") != workflows.StepSucceeded {
		t.Fatalf("status %+v", s)
	}
	for _, st := range s.Steps {
		if st.ID == "say" && st.Message != "a was 1" {
			t.Fatalf("log message %q", st.Message)
		}
	}
}

func TestRetriesThenRollbackInReverse(t *testing.T) {
	rec := &recorder{fails: map[string]int{"flaky_ok": 2, "broken": 99}}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - {id: first, uses: test.record}
  - {id: flaky_ok, uses: test.flaky, retry: {maxAttempts: 3, backoff: 1s}}
  - {id: broken, uses: test.flaky, retry: {maxAttempts: 2}}
  - {id: never, uses: test.record}
rollback:
  - {id: undo_first, uses: test.record, undoes: first}
  - {id: undo_flaky, uses: test.record, undoes: flaky_ok}
  - {id: undo_never, uses: test.record, undoes: never}
  - {id: always, uses: test.record}
`)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("the run should fail")
	}
	want := []string{"first", "flaky_ok", "flaky_ok", "flaky_ok", "broken", "broken", "undo_flaky", "undo_first", "always"}
	if len(rec.order) != len(want) {
		t.Fatalf("order %v, want %v", rec.order, want)
	}
	for i := range want {
		if rec.order[i] != want[i] {
			t.Fatalf("order %v, want %v", rec.order, want)
		}
	}
	s := status(t, env)
	if s.Phase != workflows.PhaseRolledBack || stepStatus(s, "undo_never") != workflows.StepPending {
		t.Fatalf("phase %s, undo_never %s", s.Phase, stepStatus(s, "undo_never"))
	}
	for _, st := range s.Steps {
		if st.ID == "broken" && (st.Attempts != 2 || st.LastError != "broker not available") {
			t.Fatalf("broken step %+v", st)
		}
	}
}

func TestNoRollbackPastPointOfNoReturn(t *testing.T) {
	rec := &recorder{fails: map[string]int{"after": 9}}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - {id: cut, uses: test.record, pointOfNoReturn: true}
  - {id: after, uses: test.flaky, retry: {maxAttempts: 1}}
rollback:
  - {id: undo_cut, uses: test.record, undoes: cut}
`)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if env.GetWorkflowError() == nil {
		t.Fatal("the run should fail")
	}
	if s := status(t, env); s.Phase != workflows.PhaseFailed || stepStatus(s, "undo_cut") != workflows.StepPending {
		t.Fatalf("phase %s, undo_cut %s: nothing may roll back past the point of no return", s.Phase, stepStatus(s, "undo_cut"))
	}
}

type updateResult struct {
	err error
	val any
}

func (u *updateResult) Accept()                   {}
func (u *updateResult) Reject(err error)          { u.err = err }
func (u *updateResult) Complete(v any, err error) { u.val, u.err = v, err }

func TestApprovalGate(t *testing.T) {
	rec := &recorder{}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - {id: gate, uses: approval, with: {message: "go?"}}
  - {id: after, uses: log, with: {message: "by ${{ steps.gate.outputs.approvedBy }}"}}
`)
	var wrong, right updateResult
	env.RegisterDelayedCallback(func() {
		s := status(t, env)
		if s.Phase != workflows.PhaseWaiting || len(s.Waiting) != 1 || s.Waiting[0] != "gate" {
			t.Errorf("before approval: phase %s waiting %v", s.Phase, s.Waiting)
		}
		env.UpdateWorkflow(workflows.UpdateApprove, "1", &wrong, workflows.Approval{Step: "after", By: "mallory"})
		env.UpdateWorkflow(workflows.UpdateApprove, "2", &right, workflows.Approval{By: "alice"})
	}, time.Hour)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if wrong.err == nil || right.err != nil || right.val != "gate" {
		t.Fatalf("wrong step accepted (%v) or right approval refused (%v, %v)", wrong.err, right.err, right.val)
	}
	for _, st := range status(t, env).Steps {
		if st.ID == "after" && st.Message != "by alice" {
			t.Fatalf("after: %q", st.Message)
		}
	}
}

func TestRejectRollsBack(t *testing.T) {
	rec := &recorder{}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - {id: prep, uses: test.record}
  - {id: gate, uses: approval}
rollback:
  - {id: undo_prep, uses: test.record, undoes: prep}
`)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateApprove, "1", &updateResult{}, workflows.Approval{By: "bob", Reject: true, Comment: "lag too high"})
	}, time.Minute)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	err := env.GetWorkflowError()
	if err == nil || len(rec.order) != 2 || rec.order[1] != "undo_prep" {
		t.Fatalf("err %v, order %v", err, rec.order)
	}
}

func TestPauseHoldsNextStep(t *testing.T) {
	rec := &recorder{}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - {id: nap, uses: sleep, with: {duration: 1h}}
  - {id: after, uses: test.record}
`)
	var sawPaused bool
	env.RegisterDelayedCallback(func() { env.UpdateWorkflow(workflows.UpdatePause, "p", &updateResult{}) }, 10*time.Minute)
	env.RegisterDelayedCallback(func() {
		s := status(t, env)
		sawPaused = s.Phase == workflows.PhasePaused && len(rec.order) == 0
		env.UpdateWorkflow(workflows.UpdateResume, "r", &updateResult{})
	}, 3*time.Hour)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !sawPaused || len(rec.order) != 1 {
		t.Fatalf("paused seen %v, order %v", sawPaused, rec.order)
	}
}

func TestCancelRollsBack(t *testing.T) {
	rec := &recorder{}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - {id: prep, uses: test.record}
  - {id: nap, uses: sleep, with: {duration: 2h}}
rollback:
  - {id: undo_prep, uses: test.record, undoes: prep}
`)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("want cancelled")
	}
	if len(rec.order) != 2 || rec.order[1] != "undo_prep" {
		t.Fatalf("order %v", rec.order)
	}
}

// Without retry:, a step rides out transient failures until its timeout, however many
// attempts that takes, and fails at once on a permanent one; the timeout bounds all its
// attempts together.
func TestDefaultRetryRidesOutTransientFailures(t *testing.T) {
	rec := &recorder{fails: map[string]int{"outage": 12, "refused": 99, "down": 999}, permanent: map[string]bool{"refused": true}}
	env := newEnv(t, rec)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: plan(t, `apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: t}
steps:
  - {id: outage, uses: test.flaky, timeout: 10m}
  - {id: refused, uses: test.flaky, continueOnError: true}
  - {id: down, uses: test.flaky, timeout: 2m}
`)})
	s := status(t, env)
	if st := step(s, "outage"); st.Status != workflows.StepSucceeded || st.Attempts != 13 || st.LastError != "" || st.RetryingSince != nil {
		t.Fatalf("outage: %+v", st)
	}
	if st := step(s, "refused"); st.Status != workflows.StepFailed || st.Attempts != 1 || st.LastError != "not authorized" {
		t.Fatalf("refused: %+v", st)
	}
	down := step(s, "down")
	took := down.EndedAt.Sub(*down.StartedAt)
	if down.Status != workflows.StepFailed || took > 2*time.Minute || took < 90*time.Second || down.RetryingSince == nil {
		t.Fatalf("down: %+v after %s, want it to give up within its 2m timeout", down, took)
	}
	t.Logf("outage: 13 attempts; down: %d attempts in %s", down.Attempts, took)
}

func step(s *workflows.Status, id string) *workflows.StepState {
	for _, st := range s.Steps {
		if st.ID == id {
			return st
		}
	}
	return &workflows.StepState{}
}

// A block with endWith ends when that step succeeds: its siblings are stopped (cancelled),
// the block and the run go on and succeed; the next step runs.
func TestParallelEndsWithItsStep(t *testing.T) {
	rec := &recorder{}
	env := newEnv(t, rec)
	p := plan(t, header+`
steps:
  - id: standby
    parallel:
      - {id: watch, uses: sleep, with: {duration: 1000h}}
      - {id: keep, uses: approval, with: {message: "stop the standby?"}}
    endWith: keep
  - {id: after, uses: test.record}
`)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateApprove, "1", &updateResult{}, workflows.Approval{By: "alice"})
	}, time.Hour)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	s := status(t, env)
	for id, want := range map[string]workflows.StepStatus{"standby": workflows.StepSucceeded, "keep": workflows.StepSucceeded,
		"watch": workflows.StepCancelled, "after": workflows.StepSucceeded} {
		if got := stepStatus(s, id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if s.Phase != workflows.PhaseSucceeded {
		t.Fatalf("phase %s: %s", s.Phase, s.Error)
	}
}

// onFailure steps run after the rollback of a failed run, reading run.error; they do not run
// when the run succeeds, and one failing does not stop the next.
func TestOnFailureStepsRunAfterRollback(t *testing.T) {
	src := header + `
params:
  fail: {type: bool, default: true}
steps:
  - {id: prep, uses: test.record}
  - {id: check, uses: fail, when: "${{ params.fail }}", with: {message: "rpo 9m is over maxRPO 5m"}}
rollback:
  - {id: undo, undoes: prep, uses: test.record}
onFailure:
  - {id: broken, uses: fail, with: {message: "the webhook is down"}}
  - {id: tell, uses: log, with: {message: "drill failed: ${{ run.error }}"}}
`
	rec := &recorder{}
	env := newEnv(t, rec)
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: plan(t, src)})
	if env.GetWorkflowError() == nil {
		t.Fatal("the run did not fail")
	}
	s := status(t, env)
	var msg string
	for _, st := range s.Steps {
		if st.ID == "tell" {
			msg = st.Message
		}
	}
	if s.Phase != workflows.PhaseRolledBack || stepStatus(s, "undo") != workflows.StepSucceeded || stepStatus(s, "broken") != workflows.StepFailed ||
		stepStatus(s, "tell") != workflows.StepSucceeded || !strings.Contains(msg, "drill failed: step check: rpo 9m is over maxRPO 5m; rolled back") {
		t.Fatalf("phase %s undo %s broken %s tell %s %q", s.Phase, stepStatus(s, "undo"), stepStatus(s, "broken"), stepStatus(s, "tell"), msg)
	}

	rb, err := runbook.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rb.Compile([]byte(src), map[string]any{"fail": false}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env = newEnv(t, &recorder{})
	env.ExecuteWorkflow(workflows.RunbookWorkflowName, workflows.Input{Plan: p})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if s := status(t, env); stepStatus(s, "tell") != workflows.StepPending {
		t.Fatalf("onFailure ran on success: %s", stepStatus(s, "tell"))
	}
}
