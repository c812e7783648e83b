package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/runbook"
)

// Every activity step the catalogue documents has an implementation, and every
// implementation is a documented activity step.
func TestCatalogueStepsAreImplemented(t *testing.T) {
	steps := (&Activities{}).Steps()
	for _, st := range runbook.StepTypes() {
		if _, ok := steps[st.Name]; ok == st.Control {
			t.Errorf("step type %s: control %v, activity implementation %v", st.Name, st.Control, ok)
		}
	}
	for name := range steps {
		if st, ok := runbook.Lookup(name); !ok || st.Control {
			t.Errorf("implementation %s is not an activity step of the catalogue", name)
		}
	}
}

// A step may return only the outputs its catalogue entry declares.
func TestUndeclaredOutputFailsTheStep(t *testing.T) {
	ok := declared(runbook.StepMirrorWait, func(context.Context, runbook.StepInput) (runbook.StepResult, error) {
		return runbook.StepResult{Outputs: map[string]any{"lag": 0}}, nil
	})
	if _, err := ok(context.Background(), runbook.StepInput{}); err != nil {
		t.Fatalf("declared output refused: %v", err)
	}
	bad := declared(runbook.StepMirrorWait, func(context.Context, runbook.StepInput) (runbook.StepResult, error) {
		return runbook.StepResult{Outputs: map[string]any{"lag": 0, "speed": 1}}, nil
	})
	if _, err := bad(context.Background(), runbook.StepInput{}); err == nil || !strings.Contains(err.Error(), `output "speed"`) {
		t.Fatalf("undeclared output: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a step type outside the catalogue was accepted")
		}
	}()
	declared("no.such", nil)
}
