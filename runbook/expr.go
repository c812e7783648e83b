package runbook

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
)

// Expressions use github.com/expr-lang/expr: a small, side-effect-free language with a
// well-tested parser and evaluator, so conditions and references need no hand-written
// interpreter and evaluate identically on every replay.
//
// Strings may hold templates "${{ expr }}". A string that is exactly one template keeps the
// expression's type (a number, a list); otherwise every template is formatted into the text.
// Names an expression may use:
//
//	params.<name>                 the run's parameter values
//	steps.<id>.outputs.<name>     an earlier step's outputs
//	steps.<id>.status             succeeded, failed, skipped, ...
//	run.id, run.runbook           the run itself

// exprRoots are the top-level names an expression may use.
var exprRoots = []string{"params", "steps", "run"}

type segment struct {
	text string
	expr bool
}

// splitTemplate cuts s into literal text and ${{ }} expressions.
func splitTemplate(s string) ([]segment, error) {
	var out []segment
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			if s != "" {
				out = append(out, segment{text: s})
			}
			return out, nil
		}
		if i > 0 {
			out = append(out, segment{text: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed ${{ in %q", s)
		}
		code := strings.TrimSpace(s[i+3 : i+j])
		if code == "" {
			return nil, fmt.Errorf("empty ${{ }} in %q", s)
		}
		out = append(out, segment{text: code, expr: true})
		s = s[i+j+2:]
	}
}

// HasTemplate reports whether s holds a ${{ }} template.
func HasTemplate(s string) bool { return strings.Contains(s, "${{") }

// EvalString resolves the templates in s.
func EvalString(s string, env map[string]any) (any, error) {
	segs, err := splitTemplate(s)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 && segs[0].expr {
		return evalExpr(segs[0].text, env)
	}
	var b strings.Builder
	for _, seg := range segs {
		if !seg.expr {
			b.WriteString(seg.text)
			continue
		}
		v, err := evalExpr(seg.text, env)
		if err != nil {
			return nil, err
		}
		if v != nil {
			fmt.Fprint(&b, v)
		}
		if b.Len() > MaxExprResultBytes {
			return nil, fmt.Errorf("a template's result is larger than %d bytes, the most an expression may give", MaxExprResultBytes)
		}
	}
	return b.String(), nil
}

// EvalCondition evaluates a when: expression (bare, or as one template) to a boolean.
func EvalCondition(cond string, env map[string]any) (bool, error) {
	var v any
	var err error
	if HasTemplate(cond) {
		v, err = EvalString(cond, env)
	} else {
		v, err = evalExpr(cond, env)
	}
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %q gave %v (%T), not true or false", cond, v, v)
	}
	return b, nil
}

// Resolve walks maps and lists and resolves every template string.
func Resolve(v any, env map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		if !HasTemplate(x) {
			return x, nil
		}
		return EvalString(x, env)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := Resolve(e, env)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := Resolve(e, env)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// shortExpr quotes an expression for an error message, cut to a readable length.
func shortExpr(code string) string {
	if r := []rune(code); len(r) > 80 {
		code = string(r[:60]) + "…" + string(r[len(r)-15:])
	}
	return strconv.Quote(code)
}

func evalExpr(code string, env map[string]any) (any, error) {
	tree, err := parser.Parse(code)
	if err != nil {
		return nil, fmt.Errorf("expression %s: %w", shortExpr(code), err)
	}
	if err := guardExpr(&tree.Node); err != nil {
		return nil, fmt.Errorf("expression %s: %w", shortExpr(code), err)
	}
	prog, err := expr.Compile(code, expr.Env(env), expr.AllowUndefinedVariables(), expr.MaxNodes(MaxExprNodes))
	if err != nil {
		return nil, fmt.Errorf("expression %s: %w", shortExpr(code), err)
	}
	v, err := expr.Run(prog, env)
	if err == nil {
		err = checkResult(v)
	}
	if err != nil {
		return nil, fmt.Errorf("expression %s: %w", shortExpr(code), err)
	}
	return v, nil
}

// references parses an expression and returns every name chain it reads, e.g.
// [steps mirror outputs lag]. Chains stop at the first computed index.
func references(code string) ([][]string, error) {
	tree, err := parser.Parse(code)
	if err != nil {
		return nil, err
	}
	if err := guardExpr(&tree.Node); err != nil {
		return nil, err
	}
	c := &chainCollector{}
	ast.Walk(&tree.Node, c)
	var out [][]string
	for _, ch := range longestChains(c.chains) {
		if _, fn := builtin.Index[ch[0]]; !fn {
			out = append(out, ch)
		}
	}
	return out, nil
}

// chainCollector gathers name chains. Walk visits children before parents, so it also
// sees every prefix of a chain; longestChains drops those.
type chainCollector struct{ chains [][]string }

func (c *chainCollector) Visit(node *ast.Node) {
	switch (*node).(type) {
	case *ast.MemberNode, *ast.IdentifierNode:
		if chain := memberChain(*node); len(chain) > 0 {
			c.chains = append(c.chains, chain)
		}
	}
}

// memberChain flattens a.b.c (or a["b"].c) into [a b c]; a computed index ends the chain.
func memberChain(n ast.Node) []string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return []string{x.Value}
	case *ast.MemberNode:
		base := memberChain(x.Node)
		if s, ok := x.Property.(*ast.StringNode); ok && base != nil {
			return append(base, s.Value)
		}
		return base
	}
	return nil
}

// longestChains drops chains that are a prefix of another chain.
func longestChains(chains [][]string) [][]string {
	var out [][]string
	for i, a := range chains {
		prefix := false
		for j, b := range chains {
			if i != j && len(b) > len(a) && strings.Join(b[:len(a)], ".") == strings.Join(a, ".") {
				prefix = true
				break
			}
		}
		if !prefix {
			out = append(out, a)
		}
	}
	return out
}
