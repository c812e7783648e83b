package runbook

import (
	"errors"
	"fmt"
	"path/filepath"
)

// StepRunbookStart starts another runbook as a run of its own, which outlives this one: the
// new backup a restore ends with.
const StepRunbookStart = "runbook.start"

// maxStartDepth bounds runbooks started by runbooks started by runbooks: deeper is a loop.
const maxStartDepth = 3

// RunbookStartParams for runbook.start.
type RunbookStartParams struct {
	Runbook string            `yaml:"runbook" json:"runbook" ferry:"required" doc:"The runbook file to start, relative to this one (e.g. backup.yaml). It is read and checked when this run is planned, and travels in its plan."`
	ID      string            `yaml:"id" json:"id,omitempty" doc:"The new run's id; <this run's id>-<step id> when empty."`
	Set     map[string]string `yaml:"set" json:"set,omitempty" doc:"Its param values, as --set name=value gives them."`
}

func init() {
	Register(StepType{
		Name: StepRunbookStart, Control: true, Params: RunbookStartParams{},
		Summary: "Start another runbook as a run of its own that outlives this one (a restore ends by starting the new backup).",
		Doc: "The runbook is read, validated and compiled with this one (ferry validate and ferry plan check it too), so a mistake in it stops this run before it starts. " +
			"The step ends once the new run has started; ferry status and ferry list show it under its own id. Starting it again (a retried or resumed step) finds it running and changes nothing.",
		Outputs: []Output{{"id", "The new run's id."}, {"runbook", "Its runbook name."}},
		Touches: func(with map[string]any, _ *Plan) []string {
			r, _ := with["runbook"].(string)
			return []string{"starts runbook " + r + " as its own run"}
		},
	})
}

// compileStarted reads and compiles the runbook a runbook.start step names, relative to the
// runbook that starts it.
func compileStarted(parent *Plan, with map[string]any) (*Plan, error) {
	var p RunbookStartParams
	if err := DecodeWith(with, &p); err != nil {
		return nil, err
	}
	if parent.File == "" {
		return nil, fmt.Errorf("runbook.start reads %s next to this runbook, and this runbook was not read from a file", p.Runbook)
	}
	if parent.depth >= maxStartDepth {
		return nil, errors.New("runbooks started by runbooks more than 3 deep: a loop?")
	}
	path := p.Runbook
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(parent.File), path)
	}
	rb, src, err := LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the runbook it starts: %v", err)
	}
	sets := make([]string, 0, len(p.Set))
	for _, k := range sortedKeys(p.Set) {
		sets = append(sets, k+"="+p.Set[k])
	}
	child, err := rb.compile(src, nil, sets, parent.depth+1)
	if err != nil {
		return nil, fmt.Errorf("the runbook it starts: %v", err)
	}
	return child, nil
}
