package runbook

import (
	"encoding/json"
	"fmt"

	"github.com/expr-lang/expr/ast"
	"go.yaml.in/yaml/v3"
)

// Limits on what a runbook may make Ferry do. A runbook is untrusted input: none of these can
// be reached by a runbook that means well, and each refusal names the limit.
const (
	// MaxRunbookBytes is the largest runbook file read.
	MaxRunbookBytes = 1 << 20
	// MaxYAMLValues caps the values a runbook holds once its aliases are expanded (a few
	// hundred in a large real runbook; an alias bomb makes billions).
	MaxYAMLValues = 100_000
	// MaxYAMLDepth caps how deeply values nest.
	MaxYAMLDepth = 64
	// MaxExprNodes caps the size of one expression.
	MaxExprNodes = 500
	// MaxExprResultBytes caps the size of what one expression gives (strings, lists and maps
	// counted through): the value becomes a step's parameter, in the run's history.
	MaxExprResultBytes = 256 << 10
	// MaxSteps caps the steps of a runbook, blocks and rollback included: each is state the
	// run carries and shows.
	MaxSteps = 1000
	// MaxPlanBytes caps a runbook's compiled size: the plan is the run's input, and Temporal
	// refuses inputs over 2 MiB by default.
	MaxPlanBytes = 1 << 20
)

// checkSize refuses a runbook with more than MaxSteps steps or larger than MaxPlanBytes once
// encoded as a run's input, so validate refuses what the server would.
func checkSize(rb *Runbook) error {
	n := 0
	var count func([]*Step)
	count = func(steps []*Step) {
		for _, s := range steps {
			n++
			count(s.Parallel)
		}
	}
	count(rb.Steps)
	count(rb.Rollback)
	count(rb.OnFailure)
	if n > MaxSteps {
		return Errors{{Pos: rb.Pos, Path: "steps", Msg: fmt.Sprintf("the runbook has %d steps; the most a run takes is %d (split it into several runbooks)", n, MaxSteps)}}
	}
	b, err := json.Marshal(rb)
	if err != nil {
		return Errors{{Pos: rb.Pos, Msg: fmt.Sprintf("the runbook cannot be encoded as a run's input: %v", err)}}
	}
	if len(b) > MaxPlanBytes {
		return Errors{{Pos: rb.Pos, Msg: fmt.Sprintf("the runbook is %d bytes as a run's input; the most a run takes is %d", len(b), MaxPlanBytes)}}
	}
	return nil
}

// checkYAML refuses documents whose aliases refer to themselves, expand past MaxYAMLValues,
// or nest past MaxYAMLDepth, before anything walks them.
func checkYAML(file string, doc *yaml.Node) error {
	c := &yamlCheck{file: file, size: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	if _, err := c.walk(doc, 0); err != nil {
		return err
	}
	return nil
}

type yamlCheck struct {
	file string
	size map[*yaml.Node]int // expanded values under a node, once known
	open map[*yaml.Node]bool
}

func (c *yamlCheck) fail(n *yaml.Node, format string, args ...any) error {
	return Errors{{Pos: Pos{File: c.file, Line: n.Line, Column: n.Column}, Msg: fmt.Sprintf(format, args...)}}
}

// walk returns how many values n stands for once aliases are expanded.
func (c *yamlCheck) walk(n *yaml.Node, depth int) (int, error) {
	if depth > MaxYAMLDepth {
		return 0, c.fail(n, "values nest more than %d deep", MaxYAMLDepth)
	}
	if s, ok := c.size[n]; ok {
		return s, nil
	}
	if c.open[n] {
		return 0, c.fail(n, "an alias refers to a value that contains it (&%s)", n.Anchor)
	}
	c.open[n] = true
	defer delete(c.open, n)
	total := 1
	children := n.Content
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 0, c.fail(n, "alias *%s has no anchor", n.Value)
		}
		children = []*yaml.Node{n.Alias}
	}
	for _, ch := range children {
		s, err := c.walk(ch, depth+1)
		if err != nil {
			return 0, err
		}
		total += s
		if total > MaxYAMLValues {
			return 0, c.fail(n, "the runbook holds more than %d values, aliases expanded", MaxYAMLValues)
		}
	}
	c.size[n] = total
	return total, nil
}

// checkResult refuses an expression result larger than MaxExprResultBytes. Without loops an
// expression can still join its inputs many times over (params.big + params.big + …).
func checkResult(v any) error {
	if n := valueSize(v, MaxExprResultBytes); n > MaxExprResultBytes {
		return fmt.Errorf("its result is larger than %d bytes, the most an expression may give", MaxExprResultBytes)
	}
	return nil
}

// valueSize is about how many bytes v takes as JSON, counting no further than limit.
func valueSize(v any, limit int) int {
	switch x := v.(type) {
	case string:
		return len(x) + 2
	case []any:
		n := 2
		for _, e := range x {
			if n += valueSize(e, limit-n) + 1; n > limit {
				return n
			}
		}
		return n
	case map[string]any:
		n := 2
		for k, e := range x {
			if n += len(k) + 4 + valueSize(e, limit-n); n > limit {
				return n
			}
		}
		return n
	case []string:
		n := 2
		for _, e := range x {
			if n += len(e) + 3; n > limit {
				return n
			}
		}
		return n
	}
	return 8
}

// exprFunctions are the functions an expression may call: each runs in time and space
// linear in its arguments, and none reads the clock, which a replaying workflow must not.
// Without loops (predicates, closures), ranges or variables, an expression's cost is bounded
// by its size and its inputs.
var exprFunctions = map[string]bool{
	"len": true, "abs": true, "int": true, "float": true, "string": true, "round": true, "ceil": true, "floor": true,
	"trim": true, "trimPrefix": true, "trimSuffix": true, "upper": true, "lower": true,
	"split": true, "splitAfter": true, "join": true, "indexOf": true, "lastIndexOf": true,
	"hasPrefix": true, "hasSuffix": true, "keys": true, "values": true, "first": true, "last": true,
	"get": true, "toJSON": true, "fromJSON": true, "duration": true, "max": true, "min": true, "type": true,
}

// exprGuard finds what an expression may not do.
type exprGuard struct {
	nodes int
	err   error
}

func (g *exprGuard) Visit(node *ast.Node) {
	g.nodes++
	if g.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		g.err = callable(n.Name)
	case *ast.PredicateNode, *ast.PointerNode:
		g.err = fmt.Errorf("runbook expressions cannot loop (no predicates or #)")
	case *ast.VariableDeclaratorNode:
		g.err = fmt.Errorf("runbook expressions cannot declare variables (let %s)", n.Name)
	case *ast.BinaryNode:
		if n.Operator == ".." {
			g.err = fmt.Errorf("runbook expressions cannot build ranges (..)")
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			g.err = callable(id.Value)
		} else {
			g.err = fmt.Errorf("runbook expressions call functions by name only")
		}
	}
	if g.nodes > MaxExprNodes {
		g.err = fmt.Errorf("the expression is larger than %d nodes", MaxExprNodes)
	}
}

// loops are the functions that run a predicate over a list.
var loops = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true, "count": true, "sum": true,
	"find": true, "findIndex": true, "findLast": true, "findLastIndex": true, "groupBy": true, "sortBy": true, "reduce": true,
}

func callable(name string) error {
	switch {
	case exprFunctions[name]:
		return nil
	case loops[name]:
		return fmt.Errorf("%s() loops over a list; runbook expressions cannot loop", name)
	}
	return fmt.Errorf("%s() is not a function runbook expressions may call (they may call len, string, int, float, trim, upper, lower, split, join, hasPrefix, hasSuffix, indexOf, keys, values, first, last, get, toJSON, fromJSON, duration, max, min, abs, round, type)", name)
}

// guardExpr refuses an expression that could loop, grow without bound or read the clock.
func guardExpr(tree *ast.Node) error {
	g := &exprGuard{}
	ast.Walk(tree, g)
	return g.err
}
