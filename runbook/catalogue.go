package runbook

import (
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"
)

// StepType describes one kind of step: its parameters, outputs and documentation. The
// implementation of an activity step lives in package activities under the same name.
type StepType struct {
	// Name is what a runbook writes after uses:, e.g. "topics.sync".
	Name string
	// Summary is one line; Doc may be longer.
	Summary string
	Doc     string
	// Params is the zero value of the parameter struct (decoded from with:), or nil for none.
	Params any
	// Outputs later steps may read as steps.<id>.outputs.<name>.
	Outputs []Output
	// NeedsReplication marks steps that act on the runbook's replication: section.
	NeedsReplication bool
	// Control steps run inside the workflow (timers, approvals); the rest are activities.
	Control bool
	// Timeout of one attempt when the runbook sets none.
	DefaultTimeout time.Duration
	// HeartbeatTimeout is how long an attempt may go without a heartbeat before Temporal
	// runs it again elsewhere (its worker is taken for lost); 0 means StepHeartbeatTimeout.
	// Every activity step heartbeats at a quarter of it, with or without progress to tell.
	HeartbeatTimeout time.Duration
	// Touches lists what the step reads or changes, for ferry plan.
	Touches func(with map[string]any, p *Plan) []string
}

// Output is one value a step returns.
type Output struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
}

var (
	catalogueMu sync.RWMutex
	catalogue   = map[string]*StepType{}
)

// Register adds a step type; a second registration of the same name panics.
func Register(t StepType) {
	catalogueMu.Lock()
	defer catalogueMu.Unlock()
	if _, dup := catalogue[t.Name]; dup {
		panic(fmt.Sprintf("step type %q registered twice", t.Name))
	}
	if t.Params != nil && reflect.TypeOf(t.Params).Kind() != reflect.Struct {
		panic(fmt.Sprintf("step type %q: Params must be a struct value", t.Name))
	}
	catalogue[t.Name] = &t
}

// Lookup finds a step type by name.
func Lookup(name string) (*StepType, bool) {
	catalogueMu.RLock()
	defer catalogueMu.RUnlock()
	t, ok := catalogue[name]
	return t, ok
}

// StepTypes lists the catalogue sorted by name.
func StepTypes() []*StepType {
	catalogueMu.RLock()
	defer catalogueMu.RUnlock()
	out := make([]*StepType, 0, len(catalogue))
	for _, t := range catalogue {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func stepTypeNames() []string {
	ts := StepTypes()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}
