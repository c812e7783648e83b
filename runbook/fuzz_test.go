package runbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds the parser arbitrary bytes: it must never panic, and every error it
// reports must carry the file name and a position.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/bad/*.yaml", "../runbooks/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	head := "apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: a}\n"
	for _, anchors := range []string{
		"x: &a [*a]\nsteps: [{id: s, uses: log, with: {message: *a}}]\n",
		"params: {p: {default: &d {k: [*d, *d]}}}\nsteps: [{id: s, uses: noop}]\n",
		"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nsteps: [{id: s, uses: log, with: {message: '${{ params.x }}', extra: *c}}]\n",
		"steps:\n  - &s {id: s, uses: noop}\n  - *s\n",
	} {
		f.Add([]byte(head + anchors))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		rb, err := Parse("fuzz.yaml", src)
		if err == nil {
			if _, err := rb.Compile(src, nil, nil); err != nil {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("compile error of the wrong type: %v", err)
				}
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("parse error of the wrong type: %v", err)
		}
		for _, e := range errs {
			if e.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("error without file or message: %#v", e)
			}
		}
	})
}

// FuzzExpression feeds the expression language arbitrary code, alone and as templates: it
// must never panic, finish at once, and give nothing larger than MaxExprResultBytes.
func FuzzExpression(f *testing.F) {
	for _, code := range []string{
		`params.name + "-" + string(params.n)`, `len(params.topics) > 1 ? upper(params.name) : "x"`,
		`len(reduce(1..40, #acc + #acc, "a"))`, `len(reduce(1..999999, #acc + "ab", ""))`, `repeat("a", 1000000000)`,
		`map(params.topics, # + #)`, `let x = "a"; x + x`, `toJSON(steps.m.outputs) + toJSON(steps.m.outputs)`,
		`split(params.big, "")`, `fromJSON("[" + params.big + "]")`, `duration("99999999h")`, `now()`, `1..9999999`,
		`params.big + params.big + params.big + params.big + params.big + params.big`,
	} {
		f.Add(code)
	}
	env := map[string]any{
		"params": map[string]any{"name": "Orders", "n": 3, "topics": []any{"a", "b"}, "big": strings.Repeat("7,", 60_000) + "7"},
		"steps":  map[string]any{"m": map[string]any{"outputs": map[string]any{"lag": 0, "offsets": map[string]any{"orders/0": "1 -> 1"}}}},
	}
	f.Fuzz(func(t *testing.T, code string) {
		for _, src := range []string{code, "${{ " + code + " }}", "a ${{ " + code + " }} b"} {
			done := make(chan struct{})
			var v any
			go func() {
				defer close(done)
				if strings.Contains(src, "${{") {
					v, _ = EvalString(src, env)
				} else {
					v, _ = evalExpr(src, env)
				}
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("%q still evaluating after 5s", src)
			}
			if n := valueSize(v, 1<<30); n > MaxExprResultBytes+64 {
				t.Fatalf("%q gave %d bytes", src, n)
			}
		}
	})
}

// bigRunbook has n steps in blocks of ten, each reading the previous block's outputs.
func bigRunbook(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: big}\nparams:\n  msg: {default: hi}\nsteps:\n")
	for i := 0; i < n; i++ {
		switch {
		case i%10 == 0:
			fmt.Fprintf(&b, "  - id: s%d\n    uses: log\n    with: {message: \"${{ params.msg }} %d\"}\n", i, i)
		case i%10 == 9:
			fmt.Fprintf(&b, "  - id: s%d\n    uses: noop\n    when: steps.s%d.outputs.message != ''\n", i, i-9)
		default:
			fmt.Fprintf(&b, "  - id: s%d\n    uses: sleep\n    timeout: 1m\n    with: {duration: 1s}\n", i)
		}
	}
	return []byte(b.String())
}

// BenchmarkValidate1000Steps is what `ferry validate` does for a 1,000-step runbook
// (target: under 200 ms).
func BenchmarkValidate1000Steps(b *testing.B) {
	src := bigRunbook(1000)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		rb, err := Parse("big.yaml", src)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rb.Compile(src, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
