package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every example in --help and the README's command lines is one the parser takes as
// printed: a real command, known flags, flags before the arguments, files that exist.
func TestHelpExamplesParse(t *testing.T) {
	app := newApp()
	var examples []string
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			examples = append(examples, exampleLines(c.Description)...)
			walk(c.Subcommands)
		}
	}
	examples = append(examples, exampleLines(app.Description)...)
	walk(app.Commands)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "bin/ferry ") {
			examples = append(examples, "ferry "+strings.TrimPrefix(l, "bin/ferry "))
		}
	}
	if len(examples) < 15 {
		t.Fatalf("found only %d examples: the extraction is broken", len(examples))
	}
	for _, ex := range examples {
		if err := checkExample(app, ex); err != "" {
			t.Errorf("%s\n\t%s", ex, err)
		}
	}
}

// exampleLines are the lines of a help text that run ferry.
func exampleLines(desc string) []string {
	var out []string
	for _, l := range strings.Split(desc, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "ferry ") {
			out = append(out, l)
		}
	}
	return out
}

var placeholder = regexp.MustCompile(`^[A-Z][A-Z_.]*$|\|`)

func checkExample(app *cli.App, line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	// Optional parts ([--step ID]) count as written.
	line = strings.NewReplacer("[", "", "]", "").Replace(line)
	words := shellWords(strings.TrimSuffix(strings.TrimSpace(line), "&"))[1:]
	global := map[string]bool{}
	for _, f := range app.Flags {
		for _, n := range f.Names() {
			global[n] = true
		}
	}
	words = globalFlagsFirst(append([]string{"ferry"}, words...))[1:]
	// Connection flags with their values, then the command path.
	for len(words) > 0 && strings.HasPrefix(words[0], "-") {
		name, _, hasValue := strings.Cut(strings.TrimLeft(words[0], "-"), "=")
		if !global[name] {
			return "unknown global flag " + words[0]
		}
		words = words[1:]
		if !hasValue && name != "tls" && len(words) > 0 {
			words = words[1:]
		}
	}
	if len(words) == 0 {
		return ""
	}
	cmd := app.Command(words[0])
	if cmd == nil {
		return "no command " + words[0]
	}
	words = words[1:]
	for len(words) > 0 && len(cmd.Subcommands) > 0 {
		sub := cmd.Command(words[0])
		if sub == nil {
			if placeholder.MatchString(words[0]) {
				return "" // a summary of several subcommands
			}
			return "no subcommand " + words[0]
		}
		cmd, words = sub, words[1:]
	}
	flags := map[string]cli.Flag{}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			flags[n] = f
		}
	}
	positional := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if placeholder.MatchString(w) {
			positional = true
			continue
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			if positional {
				return "flag " + w + " after an argument"
			}
			name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			f, ok := flags[name]
			if !ok {
				return "unknown flag " + w
			}
			if _, isBool := f.(*cli.BoolFlag); !isBool && !hasValue {
				i++
			}
			continue
		}
		positional = true
		if strings.HasSuffix(w, ".yaml") && !strings.Contains(w, "*") {
			if _, err := os.Stat(filepath.Join("../..", w)); err != nil {
				return "no file " + w
			}
		}
	}
	return ""
}

// shellWords splits a command line as a shell would, for the quoting examples use.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
