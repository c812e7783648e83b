package workflows

import (
	"testing"

	"github.com/ferryhq/ferry/runbook"
)

// Every control step the catalogue documents is one the workflow runs, and no other.
func TestCatalogueControlStepsAreImplemented(t *testing.T) {
	for _, st := range runbook.StepTypes() {
		if _, ok := controlSteps[st.Name]; ok != st.Control {
			t.Errorf("step type %s: control %v, workflow implementation %v", st.Name, st.Control, ok)
		}
	}
	for name := range controlSteps {
		if st, ok := runbook.Lookup(name); !ok || !st.Control {
			t.Errorf("control implementation %s is not a control step of the catalogue", name)
		}
	}
}
