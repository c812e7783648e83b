package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/ferryhq/ferry/workflows"
)

// The worker copying with the builtin mirror is killed (SIGKILL, a lost machine): another
// worker takes the copy over within seconds, from where the target stands, and the migration
// ends exact.
func TestLostWorkerCostsSeconds(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin)
	e := start(t, "", newSteps())
	e.worker.Stop() // the ferry worker below is the only one at first
	e.worker = nil
	w := exec.Command(ferryBin, "--address", e.server.Address(), "worker")
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Process.Kill() }()
	src := strings.Replace(migrationRunbook(bootstrapYAML(origin), bootstrapYAML(target)),
		"  - {id: caught_up,", "  - {id: gate, uses: approval}\n  - {id: caught_up,", 1)
	r := e.run("lost", workflows.Input{Plan: plan(t, src)})
	e.waitFor("lost", "the gate", func(s *workflows.Status) bool { return step(s, "gate").Status == workflows.StepWaiting })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	copying := func(attempt int32) bool {
		d, err := e.client.DescribeWorkflowExecution(ctx, "lost-mirror", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, pa := range d.PendingActivities {
			if pa.ActivityType.GetName() == "mirror.run" && pa.Attempt >= attempt && pa.State == enumspb.PENDING_ACTIVITY_STATE_STARTED && pa.HeartbeatDetails != nil {
				return true
			}
		}
		return false
	}
	for !copying(1) {
		if ctx.Err() != nil {
			t.Fatal("the mirror never started copying")
		}
		time.Sleep(100 * time.Millisecond)
	}
	killed := time.Now()
	if err := w.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w.Wait()
	e.startWorker()
	for !copying(2) {
		if ctx.Err() != nil {
			t.Fatal("no other worker took the copy over")
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("the copy resumed on another worker %s after the kill", took.Round(100*time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("a lost worker stalled the copy %s; want about the 10 s heartbeat timeout", took)
	}
	if _, err := e.update("lost", workflows.UpdateApprove, workflows.Approval{Step: "gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	checkMigration(t, e, "lost", kclient(t, target))
}
