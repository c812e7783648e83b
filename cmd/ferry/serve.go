package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/runbooks"
)

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run the embedded Temporal server (SQLite in --state-dir) with a Ferry worker, until interrupted",
		Description: `Other ferry commands on this machine find it on --port. Point other clients at it with
--address 127.0.0.1:PORT.`,
		Action: func(c *cli.Context) error {
			if c.String("address") != "" {
				return cli.Exit("server: --address names an external cluster; the embedded server listens on --port", exitInvalid)
			}
			s, err := connect(c, true)
			if err != nil {
				return err
			}
			defer s.Close()
			if s.server == nil {
				return cli.Exit(fmt.Sprintf("another ferry process already serves on port %d", c.Int("port")), exitInvalid)
			}
			fmt.Printf("Temporal server on %s (namespace %s, state %s); Ferry worker running. Ctrl-C stops.\n",
				s.server.Address(), c.String("namespace"), filepath.Join(c.String("state-dir"), "temporal.db"))
			<-c.Context.Done()
			return nil
		},
	}
}

func workerCommand() *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run a Ferry worker (workflows and step activities) until interrupted",
		Action: func(c *cli.Context) error {
			s, err := connect(c, true)
			if err != nil {
				return err
			}
			defer s.Close()
			if !s.hostsWorker() {
				if err := s.startWorker(); err != nil {
					return err
				}
			}
			fmt.Println("Ferry worker running on task queue ferry. Ctrl-C stops.")
			<-c.Context.Done()
			return nil
		},
	}
}

// demoCommand runs a sample runbook end to end on a throw-away embedded server.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the sample runbook end to end on a fresh embedded server, approving its gate",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "keep", Usage: "keep the demo's state directory"}},
		Action: func(c *cli.Context) error {
			dir, err := os.MkdirTemp("", "ferry-demo-")
			if err != nil {
				return err
			}
			if !c.Bool("keep") {
				defer os.RemoveAll(dir)
			}
			src, err := runbooks.FS.ReadFile("approval-demo.yaml")
			if err != nil {
				return err
			}
			file := filepath.Join(dir, "approval-demo.yaml")
			if err := os.WriteFile(file, src, 0o600); err != nil {
				return err
			}
			port, err := freePort()
			if err != nil {
				return err
			}
			fmt.Printf("ferry demo: embedded Temporal on 127.0.0.1:%d, state in %s\n", port, dir)
			// The demo is a plain `ferry run` against its own server and state.
			args := []string{"ferry", "--state-dir", dir, "--port", strconv.Itoa(port), "--address", "", "run", "--auto-approve", file}
			return newApp().RunContext(c.Context, args)
		},
	}
}
