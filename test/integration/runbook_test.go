package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/workflows"
)

func TestApprovalGate(t *testing.T) {
	e := start(t, "", newSteps())
	p := plan(t, `
steps:
  - {id: prep, uses: test.record}
  - {id: gate, uses: approval, with: {message: "cut over?"}}
  - {id: after, uses: log, with: {message: "approved by ${{ steps.gate.outputs.approvedBy }}"}}
`)
	r := e.run("approval", workflows.Input{Plan: p})
	s := e.waitFor("approval", "the gate", func(s *workflows.Status) bool { return s.Phase == workflows.PhaseWaiting })
	if len(s.Waiting) != 1 || s.Waiting[0] != "gate" || step(s, "gate").Message != "cut over?" {
		t.Fatalf("waiting %v, gate %+v", s.Waiting, step(s, "gate"))
	}
	if _, err := e.update("approval", workflows.UpdateApprove, workflows.Approval{Step: "prep", By: "eve"}); err == nil || !strings.Contains(err.Error(), `step "prep" is not waiting for approval`) {
		t.Fatalf("approving a step that is not waiting: %v", err)
	}
	got, err := e.update("approval", workflows.UpdateApprove, workflows.Approval{By: "alice", Comment: "lag is 0"})
	if err != nil || got != "gate" {
		t.Fatalf("approve: %v %v", got, err)
	}
	var final workflows.Status
	if err := r.Get(context.Background(), &final); err != nil {
		t.Fatal(err)
	}
	if final.Phase != workflows.PhaseSucceeded || step(&final, "after").Message != "approved by alice" {
		t.Fatalf("final %+v / %+v", final.Phase, step(&final, "after"))
	}
	recordHistory(t, e, "approval", "../../workflows/testdata/replay/approval.json")
}

func TestPauseAndResume(t *testing.T) {
	st := newSteps()
	e := start(t, "", st)
	p := plan(t, `
steps:
  - {id: busy, uses: test.block}
  - {id: next, uses: test.record}
`)
	r := e.run("pause", workflows.Input{Plan: p})
	e.waitFor("pause", "busy running", func(s *workflows.Status) bool { return step(s, "busy").Status == workflows.StepRunning })
	if _, err := e.update("pause", workflows.UpdatePause); err != nil {
		t.Fatal(err)
	}
	if _, err := e.update("pause", workflows.UpdatePause); err == nil {
		t.Fatal("pausing a paused run should be refused")
	}
	close(st.release) // the current step finishes; the next must not start
	e.waitFor("pause", "paused after busy", func(s *workflows.Status) bool {
		return s.Phase == workflows.PhasePaused && step(s, "busy").Status == workflows.StepSucceeded
	})
	time.Sleep(300 * time.Millisecond)
	if len(st.order()) != 0 {
		t.Fatalf("a step ran while paused: %v", st.order())
	}
	if _, err := e.update("pause", workflows.UpdateResume); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if o := st.order(); len(o) != 1 || o[0] != "next" {
		t.Fatalf("after resume: %v", o)
	}
}

func TestCancelRollsBackAndReportsProgress(t *testing.T) {
	st := newSteps()
	e := start(t, "", st)
	p := plan(t, `
steps:
  - {id: first, uses: test.record}
  - {id: second, uses: test.record}
  - {id: copy, uses: test.block}
  - {id: never, uses: test.record}
rollback:
  - {id: undo_never, uses: test.record, undoes: never}
  - {id: undo_first, uses: test.record, undoes: first}
  - {id: undo_second, uses: test.record, undoes: second}
`)
	r := e.run("cancel", workflows.Input{Plan: p})
	e.waitFor("cancel", "copy running", func(s *workflows.Status) bool { return step(s, "copy").Status == workflows.StepRunning })
	// The running step's heartbeat details are its progress, as ferry status shows them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := e.client.DescribeWorkflowExecution(context.Background(), "cancel", "")
		if err != nil {
			t.Fatal(err)
		}
		if pa := d.GetPendingActivities(); len(pa) == 1 && pa[0].GetActivityId() == "copy#1" && pa[0].GetHeartbeatDetails() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat progress for the running step")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.client.CancelWorkflow(context.Background(), "cancel", ""); err != nil {
		t.Fatal(err)
	}
	err := r.Get(context.Background(), nil)
	if !temporal.IsCanceledError(err) {
		t.Fatalf("want cancelled, got %v", err)
	}
	want := []string{"first", "second", "undo_second", "undo_first"}
	if o := st.order(); strings.Join(o, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v (rollback newest first, nothing for steps that did not run)", o, want)
	}
	recordHistory(t, e, "cancel", "../../workflows/testdata/replay/cancel-rollback.json")
	s := e.status("cancel")
	if s.Phase != workflows.PhaseCancelled || step(s, "copy").Status != workflows.StepCancelled {
		t.Fatalf("phase %s, copy %s", s.Phase, step(s, "copy").Status)
	}
}

func TestRunSurvivesWorkerRestart(t *testing.T) {
	st := newSteps()
	e := start(t, "", st)
	p := plan(t, `
steps:
  - {id: copy, uses: test.block, retry: {maxAttempts: 5, backoff: 100ms}}
  - {id: after, uses: test.record}
`)
	r := e.run("worker-restart", workflows.Input{Plan: p})
	e.waitFor("worker-restart", "copy running", func(s *workflows.Status) bool { return step(s, "copy").Status == workflows.StepRunning })
	e.worker.Stop() // the worker dies mid-step: the attempt times out on its heartbeat
	e.worker = nil
	close(st.release)
	e.startWorker()
	if err := r.Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	s := e.status("worker-restart")
	if s.Phase != workflows.PhaseSucceeded || step(s, "after").Status != workflows.StepSucceeded {
		t.Fatalf("after a worker restart: %+v", s)
	}
}

func TestRunSurvivesServerRestart(t *testing.T) {
	db := tempDB(t)
	st := newSteps()
	e := start(t, db, st)
	p := plan(t, `
steps:
  - {id: prep, uses: test.record}
  - {id: gate, uses: approval}
  - {id: after, uses: test.record}
`)
	e.run("server-restart", workflows.Input{Plan: p})
	e.waitFor("server-restart", "the gate", func(s *workflows.Status) bool { return s.Phase == workflows.PhaseWaiting })
	e.stop()

	time.Sleep(restartPause)
	e2 := start(t, db, st) // same SQLite file, new process state
	t0 := time.Now()
	if _, err := e2.update("server-restart", workflows.UpdateApprove, workflows.Approval{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("the first approval after a restart took %s: the new server stalled", d)
	}
	s := e2.waitFor("server-restart", "the end", func(s *workflows.Status) bool { return s.Phase.Terminal() })
	if s.Phase != workflows.PhaseSucceeded || strings.Join(st.order(), ",") != "prep,after" {
		t.Fatalf("phase %s, ran %v", s.Phase, st.order())
	}
}

// restartPause is 0: the new server must not stall on the dead one's membership.
var restartPause = time.Duration(0)

func TestContinueAsNewKeepsProgress(t *testing.T) {
	st := newSteps()
	e := start(t, "", st)
	var src strings.Builder
	src.WriteString("steps:\n")
	for _, id := range strings.Fields("a b c d e f g h i j k l") {
		src.WriteString("  - {id: " + id + ", uses: test.record}\n")
	}
	r := e.run("can", workflows.Input{Plan: plan(t, src.String()), HistoryLimit: 20})
	if err := r.Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	s := e.status("can")
	if s.Phase != workflows.PhaseSucceeded || s.Continued == 0 {
		t.Fatalf("phase %s after %d hand-overs", s.Phase, s.Continued)
	}
	if o := st.order(); strings.Join(o, "") != "abcdefghijkl" {
		t.Fatalf("steps ran %v: each exactly once, in order, across hand-overs", o)
	}
}

func TestFailureRollsBackWithRetriesVisible(t *testing.T) {
	st := newSteps()
	e := start(t, "", st)
	p := plan(t, `
steps:
  - {id: prep, uses: test.record}
  - {id: check, uses: fail, with: {message: "lag too high"}}
rollback:
  - {id: undo_prep, uses: test.record, undoes: prep}
`)
	r := e.run("fail", workflows.Input{Plan: p})
	err := r.Get(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "lag too high") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("error %v", err)
	}
	s := e.status("fail")
	if s.Phase != workflows.PhaseRolledBack || step(s, "check").LastError != "lag too high" || step(s, "undo_prep").Status != workflows.StepSucceeded {
		t.Fatalf("status %+v", s)
	}
}
