package workflows

import (
	"encoding/json"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/runbook"
)

// undoable are the step types that record what they changed, so that restore: true can
// put it back days later: the record lives in the workflow state.
var undoable = map[string]bool{runbook.StepAppsScale: true, runbook.StepAppsRepoint: true}

// undoKey is where State.AppUndo keeps what a step type changed on an app.
func undoKey(uses, app string) string { return uses + " " + app }

// restoreInput turns restore: true into what Ferry recorded before it first changed the app
// in this run; nil when the step does not restore.
func (r *runner) restoreInput(uses string, with map[string]any) (*runbook.Undo, error) {
	if restore, _ := with["restore"].(bool); !restore || !undoable[uses] {
		return nil, nil
	}
	app, _ := with["app"].(string)
	undo, ok := r.state.AppUndo[undoKey(uses, app)]
	if !ok {
		return nil, contract.BadInput.Fail("%s restore: Ferry has not changed app %s with %s in this run, so there is nothing to restore", uses, app, uses)
	}
	return undo, nil
}

// recordUndo keeps what an app step changed, the first time it changes the app, and shows it
// with the step's outputs.
func (r *runner) recordUndo(uses string, with map[string]any, res *runbook.StepResult) {
	if !undoable[uses] {
		return
	}
	undo := res.Undo
	if raw, ok := res.Outputs["undo"]; ok && undo == nil {
		// Results recorded before StepResult.Undo existed carried it among the outputs.
		b, _ := json.Marshal(raw)
		undo = &runbook.Undo{}
		if json.Unmarshal(b, undo) != nil {
			undo = nil
		}
	}
	app, _ := with["app"].(string)
	if restore, _ := with["restore"].(bool); restore || app == "" || undo == nil {
		return
	}
	if res.Outputs == nil {
		res.Outputs = map[string]any{}
	}
	res.Outputs["undo"] = undo
	if r.state.AppUndo == nil {
		r.state.AppUndo = map[string]*runbook.Undo{}
	}
	if _, seen := r.state.AppUndo[undoKey(uses, app)]; !seen {
		r.state.AppUndo[undoKey(uses, app)] = undo
	}
}
