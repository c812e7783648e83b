package runbook

import (
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
