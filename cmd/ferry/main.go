// Command ferry runs declarative Kafka migration, backup, restore and failover runbooks as
// durable Temporal workflows.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	if err := app.RunContext(ctx, os.Args); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "ferry:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(1)
	}
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
  ferry approve approval-demo-20261122-101500 --step cutover_gate
  ferry run --address temporal.internal:7233 --namespace kafka runbooks/migrate.yaml`,
		Flags:                temporalFlags(),
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // main prints and exits
		Commands: []*cli.Command{
			validateCommand(), planCommand(), stepsCommand(), schemaCommand(),
			runCommand(), resumeCommand(), statusCommand(), watchCommand(),
			approveCommand(), pauseCommand(), cancelCommand(), listCommand(), historyCommand(),
			scheduleCommand(), serverCommand(), workerCommand(), sandboxCommand(), demoCommand(),
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
	for _, sub := range cmd.Subcommands {
		flagsFirst(sub)
	}
	if len(cmd.Subcommands) > 0 {
		return // the leaf commands check their own arguments
	}
	cmd.Before = func(c *cli.Context) error {
		for _, a := range c.Args().Slice() {
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				return cli.Exit(fmt.Sprintf("%s: flag %s comes after the arguments; put flags first, e.g. ferry %s %s ... %s",
					cmd.Name, a, cmd.Name, a, strings.Join(c.Args().Slice()[:1], " ")), exitInvalid)
			}
		}
		return nil
	}
}

func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"}
}
