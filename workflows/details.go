package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/runbook"
)

// showDetails keeps the run's current details, which the Temporal Web UI and 'temporal
// workflow describe' show, saying what the run does now and what a person must do next.
// Details are not part of the history: setting them costs nothing on replay.
func (r *runner) showDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, r.details())
	r.upsertSearch(ctx)
}

var (
	phaseKey = temporal.NewSearchAttributeKeyKeyword(SearchAttributePhase)
	stepKey  = temporal.NewSearchAttributeKeyKeyword(SearchAttributeStep)
)

// upsertSearch keeps FerryPhase and FerryStep current when they change. Only a run started
// with FerryPhase set does: its server has the attributes (an upsert of an unknown one
// fails the workflow task), and runs recorded before these attributes replay without the
// upserts, as they were recorded.
func (r *runner) upsertSearch(ctx workflow.Context) {
	if !r.searchable(ctx) {
		return
	}
	phase, step := string(r.phase()), strings.Join(r.atSteps(), ",")
	if phase == r.search.phase && step == r.search.step {
		return
	}
	update := []temporal.SearchAttributeUpdate{phaseKey.ValueSet(phase), stepKey.ValueSet(step)}
	if step == "" {
		update[1] = stepKey.ValueUnset()
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, update...); err == nil {
		r.search.phase, r.search.step = phase, step
	}
}

// searchable says whether the run was started with FerryPhase, so keeps it current.
func (r *runner) searchable(ctx workflow.Context) bool {
	if r.search == nil {
		sa := workflow.GetTypedSearchAttributes(ctx)
		_, ok := sa.GetKeyword(phaseKey)
		r.search = &searchState{enabled: ok}
		r.search.phase, _ = sa.GetKeyword(phaseKey)
		r.search.step, _ = sa.GetKeyword(stepKey)
	}
	return r.search.enabled
}

// searchState is what the run last upserted.
type searchState struct {
	enabled     bool
	phase, step string
}

// atSteps are the steps the run is at: waiting for a person, running or retrying.
func (r *runner) atSteps() []string {
	var at []string
	r.walkAll(func(s *runbook.PlanStep) {
		switch r.state.Steps[s.ID].Status {
		case StepRunning, StepRetrying, StepWaiting:
			if s.Parallel == nil {
				at = append(at, s.ID)
			}
		}
	})
	return at
}

// details is the run's state in a few Markdown lines, the command a person needs included.
func (r *runner) details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** · runbook `%s`\n\n", strings.ToUpper(string(r.phase())), r.plan.Runbook)
	for _, id := range r.waiting() {
		fmt.Fprintf(&b, "A person must decide at step `%s`: %s\n\n`ferry approve --step %s %s` (add `--reject` to refuse)\n\n",
			id, r.state.Steps[id].Message, id, r.runID)
	}
	if r.state.Paused {
		fmt.Fprintf(&b, "Paused before the next step: `ferry resume %s`\n\n", r.runID)
	}
	r.walkAll(func(s *runbook.PlanStep) {
		st := r.state.Steps[s.ID]
		switch st.Status {
		case StepRunning:
			if s.Parallel == nil {
				fmt.Fprintf(&b, "Running step `%s` (%s)\n\n", s.ID, s.Uses)
			}
		case StepRetrying:
			fmt.Fprintf(&b, "Step `%s` (%s) retrying, attempt %d: %s\n\n", s.ID, s.Uses, st.Attempts, st.LastError)
		}
	})
	if r.state.Error != "" {
		fmt.Fprintf(&b, "Error: %s\n", r.state.Error)
	}
	return strings.TrimSpace(b.String())
}

// stepSummary names a step's activity or timer in the Web UI's timeline, where the step
// type alone cannot tell four apps.scale apart.
func stepSummary(s *runbook.PlanStep, attempt int) string {
	if attempt > 1 {
		return fmt.Sprintf("%s: %s (attempt %d)", s.ID, s.Uses, attempt)
	}
	return s.ID + ": " + s.Uses
}
