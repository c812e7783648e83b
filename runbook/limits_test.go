package runbook

import (
	"strconv"
	"strings"
	"testing"
)

// The guard leaves what runbooks write: references, comparisons, arithmetic, string building
// and the linear functions.
func TestExpressionsStayUseful(t *testing.T) {
	env := map[string]any{
		"params": map[string]any{"name": "Orders", "n": 3, "topics": []any{"a", "b"}},
		"steps":  map[string]any{"m": map[string]any{"outputs": map[string]any{"lag": 0}, "status": "succeeded"}},
	}
	for code, want := range map[string]any{
		`upper(params.name) + "-" + string(params.n)`:                   "ORDERS-3",
		`len(params.topics) == 2 && steps.m.status == "succeeded"`:      true,
		`join(params.topics, ",") + trim(" x ")`:                        "a,bx",
		`steps.m.outputs.lag <= 10 ? "ok" : "behind"`:                   "ok",
		`hasPrefix(lower(params.name), "ord") and "a" in params.topics`: true,
	} {
		got, err := evalExpr(code, env)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", code, got, err, want)
		}
	}
}

// Whatever reaches evaluation unchecked (a plan recorded elsewhere) meets the same guard.
func TestEvaluationRefusesLoops(t *testing.T) {
	for _, code := range []string{`len(reduce(1..40, #acc + #acc, "a"))`, `map(params.topics, # + #)`, `repeat("a", 1000000000)`, `now()`} {
		if _, err := evalExpr(code, map[string]any{"params": map[string]any{"topics": []any{"a"}}}); err == nil || !strings.Contains(err.Error(), "runbook expressions") {
			t.Errorf("%s: %v", code, err)
		}
	}
}

// validate refuses a runbook the server would: too many steps, or too large a run input.
func TestRunbookSizeLimits(t *testing.T) {
	head := "apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: big}\nsteps:\n"
	var many strings.Builder
	many.WriteString(head)
	for i := range 1500 {
		many.WriteString("  - {id: s" + itoa(i) + ", uses: log, with: {message: hi}}\n")
	}
	_, err := Parse("many.yaml", []byte(many.String()))
	if err == nil || !strings.Contains(err.Error(), "the runbook has 1500 steps; the most a run takes is 1000") {
		t.Fatalf("1,500 steps: %v", err)
	}
	var large strings.Builder
	large.WriteString(head)
	for i := range 900 {
		large.WriteString("  - {id: s" + itoa(i) + ", uses: log, with: {message: " + strings.Repeat("x", 1100) + "}}\n")
	}
	_, err = Parse("large.yaml", []byte(large.String()))
	if err == nil || !strings.Contains(err.Error(), "as a run's input; the most a run takes is 1048576") {
		t.Fatalf("a 1 MB runbook: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
