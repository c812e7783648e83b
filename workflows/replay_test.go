package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs (go test
// ./test/integration -record). A failure means a change altered the commands the
// workflow issues for existing runs: guard it with workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	files, _ := filepath.Glob("testdata/replay/*.json")
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/replay")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.RunbookWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
