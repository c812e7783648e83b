package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/runbook"
)

// showDetails keeps the run's current details, which the Temporal Web UI and 'temporal
// workflow describe' show, saying what the run does now and what a person must do next.
// Details are not part of the history: setting them costs nothing on replay.
func (r *runner) showDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, r.details())
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
