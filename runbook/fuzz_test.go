package runbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
