package integration

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/workflows"
)

// TestStandingBackupHistoryIsFlat runs backup.yaml with every clock fast (heartbeats every
// second, groups synced every 200 ms, the watch checking every 200 ms) while the apps work,
// and counts history events of the run and of its mirror: a standing backup adds none while
// nothing fails (heartbeats and progress are not history), so a backup kept for months stays
// at the events of its start. Each failure and retry of the copy adds a handful.
func TestStandingBackupHistoryIsFlat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, backup := sandboxCluster(t, "primary"), sandboxCluster(t, "backup")
	if _, err := sandbox.SeedOrders(ctx, primary.Addr, 3, 300); err != nil {
		t.Fatal(err)
	}
	e := start(t, "", newSteps())
	sandboxApps(t, ctx, e.sandboxes, primary.Addr, backup.Addr)
	e.run("backup", workflows.Input{Plan: sampleRunbook(t, "backup.yaml", "syncGroups: 10s", "syncGroups: 200ms",
		"heartbeatInterval: 60s", "heartbeatInterval: 1s", "interval: 30s", "interval: 200ms", "maxHeartbeatAge: 3m", "maxHeartbeatAge: 10s")})
	e.waitFor("backup", "the backup to stand", func(s *workflows.Status) bool { return step(s, "keep").Status == workflows.StepWaiting })
	events := func() (run, mirror int) {
		count := func(id string) int {
			n := 0
			it := e.client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				if _, err := it.Next(); err != nil {
					t.Fatal(err)
				}
				n++
			}
			return n
		}
		return count("backup"), count("backup-mirror")
	}
	time.Sleep(2 * time.Second)
	run0, mirror0 := events()
	const watch = 20 * time.Second
	time.Sleep(watch)
	run1, mirror1 := events()
	perDay := float64(run1-run0+mirror1-mirror0) * float64(24*time.Hour) / float64(watch)
	t.Logf("history events: run %d -> %d, mirror %d -> %d over %s (%.0f a day at that rate)", run0, run1, mirror0, mirror1, watch, perDay)
	if run1 != run0 || mirror1 != mirror0 {
		t.Fatalf("a standing backup's history grows: run %d -> %d, mirror %d -> %d events in %s", run0, run1, mirror0, mirror1, watch)
	}
	if _, err := e.update("backup", workflows.UpdateApprove, workflows.Approval{Step: "keep", By: "test"}); err != nil {
		t.Fatal(err)
	}
}
