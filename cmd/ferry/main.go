// Command ferry runs declarative Kafka migration, backup, restore and failover runbooks as
// durable Temporal workflows.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/urfave/cli/v2"
)

func main() {
	os.Exit(run(os.Args))
}

// run is the whole command: the exit code of README's table, every error printed once on
// stderr with control characters escaped.
func run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "ferry: internal error (please report it): %s\n%s", printable(fmt.Sprint(r)), debug.Stack())
			code = exitFailed
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newApp().RunContext(ctx, globalFlagsFirst(args))
	if err == nil {
		return 0
	}
	code = exitFailed
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, "ferry:", printable(msg))
	}
	return code
}

// printable escapes control and format characters (a NUL, an escape sequence, a right-to-left
// override from a run id) so an error cannot rewrite the terminal; newlines and tabs stay.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// globalFlagsFirst moves the connection flags (--address, --namespace, --state-dir, …) written
// after the subcommand in front of it, where urfave/cli reads them, so 'ferry worker --address
// host:7233' works as the help shows. Arguments after "--" stay where they are.
func globalFlagsFirst(args []string) []string {
	if len(args) < 2 {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range temporalFlags() {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var global, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value, known := takesValue[name]
		if !strings.HasPrefix(a, "-") || !known {
			rest = append(rest, a)
			continue
		}
		global = append(global, a)
		if value && !hasValue && i+1 < len(args) {
			i++
			global = append(global, args[i])
		}
	}
	return append(append([]string{args[0]}, global...), rest...)
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "ferry",
		Usage: "move, back up, restore and fail over Kafka clusters with durable runbooks",
		Description: `Ferry runs YAML runbooks as Temporal workflows. Without --address it uses an embedded
Temporal server (SQLite in --state-dir) and runs a worker in the same process, so a run
interrupted by Ctrl-C or kill -9 continues with 'ferry resume RUN'.

Examples:
  ferry validate runbooks/*.yaml
  ferry plan --set pause=5s runbooks/approval-demo.yaml
  ferry run runbooks/approval-demo.yaml
  ferry approve --step cutover_gate approval-demo-20261122-101500
  ferry run --address temporal.internal:7233 --namespace kafka runbooks/migrate.yaml`,
		Flags:                temporalFlags(),
		Version:              version(),
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run prints and exits
		OnUsageError:         usageError,
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(os.Stderr, "ferry: no command %q (see ferry help)\n", printable(name))
			os.Exit(exitInvalid)
		},
		Commands: []*cli.Command{
			validateCommand(), planCommand(), stepsCommand(), schemaCommand(),
			runCommand(), resumeCommand(), statusCommand(), watchCommand(),
			approveCommand(), pauseCommand(), cancelCommand(), terminateCommand(), listCommand(), historyCommand(),
			scheduleCommand(), serverCommand(), workerCommand(), sandboxCommand(), demoCommand(),
			reportCommand(), versionCommand(), completionCommand(),
		},
	}
	for _, cmd := range app.Commands {
		flagsFirst(cmd)
	}
	// Workers in this process find the sandboxes of the --state-dir they were given, unless
	// the user points a name elsewhere with FERRY_SANDBOX_<NAME>.
	app.Before = func(c *cli.Context) error {
		sandboxes.File = sandbox.RegistryFile(c.String("state-dir"))
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "FERRY_SANDBOX_") && v != "" {
				sandboxes.Set(strings.TrimPrefix(k, "FERRY_SANDBOX_"), v)
			}
		}
		return nil
	}
	return app
}

// sandboxes is where this process's workers find sandbox clusters and apps: the registry of
// the state directory, the user's overrides, and the sandboxes ferry demo runs itself.
var sandboxes = &sandbox.Directory{}

// flagsFirst makes a command refuse flags written after its arguments: urfave/cli stops
// reading flags at the first argument, and a silently ignored --set is worse than an error.
func flagsFirst(cmd *cli.Command) {
	cmd.OnUsageError = usageError
	for _, sub := range cmd.Subcommands {
		flagsFirst(sub)
	}
	if len(cmd.Subcommands) > 0 {
		return // the leaf commands check their own arguments
	}
	cmd.Before = func(c *cli.Context) error {
		for _, a := range c.Args().Slice() {
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				return cli.Exit(fmt.Sprintf("%s: flag %s comes after the arguments; put flags first: %s", cmd.Name, a, flagsFirstHint(c)), exitInvalid)
			}
		}
		return nil
	}
}

// flagsFirstHint is the command line the user meant, flags moved before the arguments.
func flagsFirstHint(c *cli.Context) string {
	args := c.Args().Slice()
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") && len(a) > 1 })
	words := append(append([]string(nil), args[i:]...), args[:i]...)
	for j, w := range words {
		if strings.ContainsAny(w, " \t'\"$*?;&|<>()") {
			words[j] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return printable(c.Command.HelpName + " " + strings.Join(words, " "))
}

// usageError makes a flag urfave/cli could not parse (unknown, a bad value) bad input.
func usageError(c *cli.Context, err error, _ bool) error {
	return cli.Exit(fmt.Sprintf("%v (see ferry %s --help)", err, c.Command.FullName()), exitInvalid)
}

// outputFlag is -o: text for people, json for programs (one shape per command, README).
func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json",
		Action: func(_ *cli.Context, v string) error {
			if v != "text" && v != "json" {
				return cli.Exit(fmt.Sprintf("-o %s: give text or json", printable(v)), exitInvalid)
			}
			return nil
		}}
}
