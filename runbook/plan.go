package runbook

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Plan is a validated runbook with its parameters resolved: the workflow's whole input.
// It holds references to secrets, never their values.
type Plan struct {
	Runbook     string              `json:"runbook"`
	Description string              `json:"description,omitempty"`
	File        string              `json:"file,omitempty"`
	Digest      string              `json:"digest"`
	Params      map[string]any      `json:"params,omitempty"`
	Clusters    map[string]*Cluster `json:"clusters,omitempty"`
	Apps        map[string]*App     `json:"apps,omitempty"`
	Replication *Replication        `json:"replication,omitempty"`
	Steps       []*PlanStep         `json:"steps"`
	Rollback    []*PlanStep         `json:"rollback,omitempty"`
	OnFailure   []*PlanStep         `json:"onFailure,omitempty"`

	depth int // runbook.start levels above this plan
}

// PlanStep is a step with defaults applied and parameter templates resolved where they
// depend only on params. Templates that read earlier steps stay for the workflow.
type PlanStep struct {
	ID               string         `json:"id"`
	Name             string         `json:"name,omitempty"`
	Uses             string         `json:"uses,omitempty"`
	Control          bool           `json:"control,omitempty"`
	With             map[string]any `json:"with,omitempty"`
	Timeout          Duration       `json:"timeout,omitempty"`
	HeartbeatTimeout Duration       `json:"heartbeatTimeout,omitempty"`
	Retry            *Retry         `json:"retry,omitempty"`
	When             string         `json:"when,omitempty"`
	Parallel         []*PlanStep    `json:"parallel,omitempty"`
	EndWith          string         `json:"endWith,omitempty"`
	// Start is the plan a runbook.start step starts, compiled with this one.
	Start           *Plan    `json:"start,omitempty"`
	Undoes          string   `json:"undoes,omitempty"`
	PointOfNoReturn bool     `json:"pointOfNoReturn,omitempty"`
	ContinueOnError bool     `json:"continueOnError,omitempty"`
	Touches         []string `json:"touches,omitempty"`
	Line            int      `json:"line,omitempty"`
}

// Defaults for steps that set no timeout or retry: transient failures are retried, one
// second after the first and doubling to 30 seconds, until the timeout.
const (
	DefaultStepTimeout = 10 * time.Minute
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = 30 * time.Second
	// StepHeartbeatTimeout is what a lost worker costs an activity step that sets no
	// heartbeat timeout of its own: the step runs again on another worker after it.
	StepHeartbeatTimeout = 20 * time.Second
)

// Walk calls fn for every step, blocks first and then their children, in order.
func Walk(steps []*PlanStep, fn func(*PlanStep)) {
	for _, s := range steps {
		fn(s)
		Walk(s.Parallel, fn)
	}
}

const requiredNoValue = "required param has no value"

// Compile resolves parameter values and builds the Plan. Values come from a values file
// (typed YAML values) and then --set name=value strings, which win.
func (rb *Runbook) Compile(src []byte, values map[string]any, sets []string) (*Plan, error) {
	return rb.compile(src, values, sets, 0)
}

func (rb *Runbook) compile(src []byte, values map[string]any, sets []string, depth int) (*Plan, error) {
	var errs Errors
	at := func(path string) Pos {
		if p, ok := rb.at[path]; ok {
			return p
		}
		return rb.Pos
	}
	given := map[string]any{}
	for k, v := range values {
		given[k] = v
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			errs.add(Pos{File: "--set"}, s, "want name=value")
			continue
		}
		p, known := rb.Params[k]
		if !known {
			errs.add(Pos{File: "--set"}, k, "unknown param %q (known: %s)", k, strings.Join(sortedKeys(rb.Params), ", "))
			continue
		}
		val, err := paramFromString(p, v)
		if err != nil {
			errs.add(Pos{File: "--set"}, k, "%v", err)
			continue
		}
		given[k] = val
	}
	params := map[string]any{}
	for _, name := range sortedKeys(rb.Params) {
		p := rb.Params[name]
		v, ok := given[name]
		switch {
		case ok:
			val, err := paramValue(p, v)
			if err != nil {
				errs.add(at("params."+name), "params."+name, "%v", err)
				continue
			}
			if len(p.Enum) > 0 && !slices.Contains(p.Enum, fmt.Sprint(val)) {
				errs.add(at("params."+name), "params."+name, "%v is not one of %s", val, strings.Join(p.Enum, ", "))
				continue
			}
			params[name] = val
		case p.Default != nil:
			params[name], _ = paramValue(p, nodeValue(p.Default))
		case p.Required:
			errs.add(p.Pos, "params."+name, requiredNoValue+": pass --set %s=...", name)
		default:
			params[name] = nil
		}
	}
	for k := range given {
		if _, ok := rb.Params[k]; !ok {
			errs.add(Pos{File: "values"}, k, "unknown param %q (known: %s)", k, strings.Join(sortedKeys(rb.Params), ", "))
		}
	}
	sum := sha256.Sum256(src)
	plan := &Plan{
		Runbook:     rb.Metadata.Name,
		Description: rb.Metadata.Description,
		File:        rb.File,
		Digest:      hex.EncodeToString(sum[:]),
		Params:      params,
		Clusters:    rb.Clusters,
		Apps:        rb.Apps,
		Replication: rb.Replication,
		depth:       depth,
	}
	env := map[string]any{"params": params}
	plan.Steps = compileSteps(rb.Steps, env, plan, &errs)
	plan.Rollback = compileSteps(rb.Rollback, env, plan, &errs)
	plan.OnFailure = compileSteps(rb.OnFailure, env, plan, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return plan, nil
}

func compileSteps(steps []*Step, env map[string]any, plan *Plan, errs *Errors) []*PlanStep {
	out := make([]*PlanStep, 0, len(steps))
	for _, s := range steps {
		ps := &PlanStep{
			ID: s.ID, Name: s.Name, Uses: s.Uses, When: s.When, Undoes: s.Undoes,
			PointOfNoReturn: s.PointOfNoReturn, ContinueOnError: s.ContinueOnError,
			Timeout: s.Timeout, Line: s.Pos.Line, EndWith: s.EndWith,
		}
		report := func(field string) func(error) {
			return func(err error) { errs.add(s.Pos, s.ID+"."+field, "%v", err) }
		}
		ps.When = resolveCondition(s.When, env, report("when"))
		if s.Parallel != nil {
			ps.Parallel = compileSteps(s.Parallel, env, plan, errs)
			out = append(out, ps)
			continue
		}
		t, _ := Lookup(s.Uses)
		ps.Control = t.Control
		if !t.Control {
			ps.Retry = &Retry{Backoff: Duration(DefaultBackoff), MaxBackoff: Duration(DefaultMaxBackoff), UntilTimeout: true, WithinTimeout: true}
			if r := s.Retry; r != nil {
				ps.Retry.MaxAttempts, ps.Retry.UntilTimeout = r.MaxAttempts, false
				if r.Backoff > 0 {
					ps.Retry.Backoff = r.Backoff
				}
				if r.MaxBackoff > 0 {
					ps.Retry.MaxBackoff = r.MaxBackoff
				}
			}
		}
		if ps.Timeout == 0 && !t.Control {
			ps.Timeout = Duration(DefaultStepTimeout)
			if t.DefaultTimeout > 0 {
				ps.Timeout = Duration(t.DefaultTimeout)
			}
		}
		if !t.Control {
			ps.HeartbeatTimeout = Duration(cmp.Or(t.HeartbeatTimeout, StepHeartbeatTimeout))
		}
		if s.With != nil {
			with, _ := nodeValue(s.With).(map[string]any)
			resolved := resolveParamsOnly(with, env, report("with"))
			ps.With = resolved
			if t.Params != nil && !containsTemplate(resolved) {
				if err := DecodeWith(resolved, reflect.New(reflect.TypeOf(t.Params)).Interface()); err != nil {
					errs.add(s.Pos, s.ID+".with", "with params applied: %v", err)
				}
			}
		}
		if s.Uses == StepRunbookStart {
			if containsTemplate(ps.With) {
				errs.add(s.Pos, s.ID+".with", "runbook.start's with may use params only: the runbook it starts is compiled with this one")
			} else if child, err := compileStarted(plan, ps.With); err != nil {
				errs.add(s.Pos, s.ID+".with.runbook", "%v", err)
			} else {
				ps.Start = child
			}
		}
		if t.Touches != nil {
			ps.Touches = t.Touches(ps.With, plan)
		}
		out = append(out, ps)
	}
	return out
}

// DecodeWith decodes resolved step parameters into a step type's parameter struct, rejecting
// unknown fields. Activities use it on their input.
func DecodeWith(with map[string]any, into any) error {
	b, err := json.Marshal(with)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// resolveParamsOnly resolves the templates that read nothing but params. One that fails
// although every param it reads has a value is reported: it would fail the same at run time
// (a result over the size limit, a type error), so validate and plan say so first.
func resolveParamsOnly[T any](v T, env map[string]any, report func(error)) T {
	var walk func(any) any
	walk = func(x any) any {
		switch y := x.(type) {
		case string:
			if !HasTemplate(y) || !onlyParams(y) {
				return y
			}
			r, err := EvalString(y, env)
			if err == nil {
				return r
			}
			if paramsSet(y, env) {
				report(err)
			}
			return y
		case map[string]any:
			out := make(map[string]any, len(y))
			for k, e := range y {
				out[k] = walk(e)
			}
			return out
		case []any:
			out := make([]any, len(y))
			for i, e := range y {
				out[i] = walk(e)
			}
			return out
		}
		return x
	}
	r, _ := walk(v).(T)
	return r
}

// resolveCondition resolves a when: that reads only params to true or false. A condition
// that gives no bool is kept for the run to refuse with its value.
func resolveCondition(cond string, env map[string]any, report func(error)) string {
	if !HasTemplate(cond) || !onlyParams(cond) {
		return cond
	}
	v, err := EvalString(cond, env)
	if err != nil {
		if paramsSet(cond, env) {
			report(err)
		}
		return cond
	}
	if b, ok := v.(bool); ok {
		return strconv.FormatBool(b)
	}
	return cond
}

// paramsSet reports whether every param a template reads has a value.
func paramsSet(s string, env map[string]any) bool {
	params, _ := env["params"].(map[string]any)
	segs, _ := splitTemplate(s)
	for _, seg := range segs {
		if !seg.expr {
			continue
		}
		chains, _ := references(seg.text)
		for _, ch := range chains {
			if len(ch) < 2 || params[ch[1]] == nil {
				return false
			}
		}
	}
	return true
}

func onlyParams(s string) bool {
	segs, err := splitTemplate(s)
	if err != nil {
		return false
	}
	for _, seg := range segs {
		if !seg.expr {
			continue
		}
		chains, err := references(seg.text)
		if err != nil {
			return false
		}
		for _, ch := range chains {
			if ch[0] != "params" {
				return false
			}
		}
	}
	return true
}

func containsTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return HasTemplate(x)
	case map[string]any:
		for _, e := range x {
			if containsTemplate(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if containsTemplate(e) {
				return true
			}
		}
	}
	return false
}

// paramValue checks a typed value (from YAML or JSON) against a param's type.
func paramValue(p *Param, v any) (any, error) {
	typ := p.Type
	if typ == "" {
		typ = "string"
	}
	switch typ {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "int":
		switch n := v.(type) {
		case int:
			return n, nil
		case float64:
			if n == float64(int(n)) {
				return int(n), nil
			}
		}
	case "number":
		switch n := v.(type) {
		case int:
			return float64(n), nil
		case float64:
			return n, nil
		}
	case "bool":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "duration":
		if s, ok := v.(string); ok {
			d, err := ParseDuration(s)
			if err != nil {
				return nil, err
			}
			return d.String(), nil
		}
	case "list":
		if l, ok := v.([]any); ok {
			return l, nil
		}
	}
	article := "a"
	if typ == "int" {
		article = "an"
	}
	return nil, fmt.Errorf("want %s %s, got %v (%s)", article, typ, v, typeName(v))
}

// paramFromString converts a --set value to a param's type. Lists are comma-separated.
func paramFromString(p *Param, s string) (any, error) {
	switch p.Type {
	case "int":
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("want an int, got %q", s)
		}
		return n, nil
	case "number":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("want a number, got %q", s)
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", s)
		}
		return b, nil
	case "list":
		var l []any
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				l = append(l, e)
			}
		}
		return l, nil
	}
	return s, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case int, float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

// StepInput is what the workflow hands an activity step: the resolved parameters and the
// runbook's connection references (never secret values).
type StepInput struct {
	RunID       string              `json:"runID"`
	Runbook     string              `json:"runbook"`
	StepID      string              `json:"stepID"`
	Attempt     int                 `json:"attempt"`
	With        map[string]any      `json:"with,omitempty"`
	Clusters    map[string]*Cluster `json:"clusters,omitempty"`
	Apps        map[string]*App     `json:"apps,omitempty"`
	Replication *Replication        `json:"replication,omitempty"`
	// RestoreTo is, for restore: true on an undoable step (apps.scale, apps.repoint), what
	// the step recorded the first time it changed the app in this run.
	RestoreTo *Undo `json:"restoreTo,omitempty"`
}

// StepResult is what an activity step returns.
type StepResult struct {
	Outputs map[string]any `json:"outputs,omitempty"`
	// Undo is what an undoable step changed, for a later restore: true.
	Undo *Undo `json:"undo,omitempty"`
}

// Undo is what an app step found before it changed an app: what restore: true puts back,
// however many days later. The workflow keeps it in its state; its JSON shape is part of
// recorded runs.
type Undo struct {
	// Replicas a sandbox app had before apps.scale.
	Replicas *int `json:"replicas,omitempty"`
	// Bootstrap a sandbox app used before apps.repoint.
	Bootstrap *string `json:"bootstrap,omitempty"`
	// Topic a sandbox app used before apps.repoint renamed it.
	Topic *string `json:"topic,omitempty"`
	// Workloads holds, per Kubernetes workload ("Deployment ns/name"), its replicas
	// (apps.scale) or its connection as it was (apps.repoint).
	Workloads map[string]json.RawMessage `json:"workloads,omitempty"`
}

// Another reports whether a step whose attempt failed may try again at next: attempts left
// (or none counted), and, when the timeout bounds all attempts, next before the deadline.
func (r Retry) Another(attempt int, next, deadline time.Time) bool {
	if r.WithinTimeout && !next.Before(deadline) {
		return false
	}
	return r.UntilTimeout || attempt < r.MaxAttempts
}
