package main

import (
	"github.com/ferryhq/ferry/internal/ports"

	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/runbooks"
)

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run the embedded Temporal server (SQLite in --state-dir) with a Ferry worker, until interrupted",
		Flags: []cli.Flag{metricsFlag(), &cli.BoolFlag{Name: "no-worker",
			Usage: "serve Temporal only: steps run on ferry worker processes (--address 127.0.0.1:PORT), and wait while none runs"}},
		Description: `Other ferry commands on this machine find it on --port. Point other clients and workers at
it with --address 127.0.0.1:PORT: more workers spread a sharded mirror's copy over them.`,
		Action: func(c *cli.Context) error {
			if c.String("address") != "" {
				return cli.Exit("server: --address names an external cluster; the embedded server listens on --port", exitInvalid)
			}
			s, err := connectEmbedded(c, !c.Bool("no-worker"))
			if err != nil {
				return err
			}
			defer s.Close()
			if s.server == nil {
				return cli.Exit(fmt.Sprintf("another ferry process already serves on port %d", c.Int("port")), exitInvalid)
			}
			worker := "Ferry worker running"
			if !s.hostsWorker() {
				worker = "no worker here: runs wait for ferry worker processes"
			}
			fmt.Printf("Temporal server on %s (namespace %s, state %s); %s. Ctrl-C stops.\n",
				s.server.Address(), c.String("namespace"), filepath.Join(c.String("state-dir"), "temporal.db"), worker)
			switch {
			case s.server.UIURL() != "":
				fmt.Printf("Temporal Web UI on %s\n", s.server.UIURL())
			case s.server.UIError() != nil:
				fmt.Printf("no Temporal Web UI: %v (choose another --ui-port)\n", s.server.UIError())
			}
			defer serveMetrics(c, s)()
			<-c.Context.Done()
			return nil
		},
	}
}

func workerCommand() *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run a Ferry worker (workflows and step activities) until interrupted",
		Flags: []cli.Flag{metricsFlag()},
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
			defer serveMetrics(c, s)()
			<-c.Context.Done()
			return nil
		},
	}
}

// demoCommand runs the migration runbook end to end on sandbox clusters and a throw-away
// embedded Temporal server, then reports what moved and checks nothing was lost or doubled.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "migrate a sandbox Kafka cluster end to end (mirror, wait, approve, move groups, parity, clean up) and report",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep", Usage: "keep the demo's state directory"},
			&cli.IntFlag{Name: "records", Value: 20000, Usage: "order events on the origin"},
			&cli.IntFlag{Name: "rate", Value: 500, Usage: "orders per second of the live producer"},
		},
		Action: func(c *cli.Context) error {
			dir, err := os.MkdirTemp("", "ferry-demo-")
			if err != nil {
				return err
			}
			if !c.Bool("keep") {
				defer os.RemoveAll(dir)
			}
			estate, err := sandbox.StartEstate(c.Context, c.Int("records"), c.Int("rate"))
			if err != nil {
				return err
			}
			defer estate.Close()
			// The worker runs in this process and finds the sandboxes here.
			for name, addr := range estate.Addrs() {
				sandboxes.Set(name, addr)
			}
			fmt.Printf("ferry demo: sandbox origin %s with %d order events (an aborted and a committed transaction among them) and groups shipping, analytics;\n"+
				"  live apps: orders-producer (%d/s) and the billing consumer; sandbox target %s\n", estate.Origin.Addr, estate.Seeded, c.Int("rate"), estate.Target.Addr)
			time.Sleep(time.Second)
			src, err := runbooks.FS.ReadFile("migrate.yaml")
			if err != nil {
				return err
			}
			file := filepath.Join(dir, "migrate.yaml")
			if err := os.WriteFile(file, src, 0o600); err != nil {
				return err
			}
			port, err := ports.Free()
			if err != nil {
				return err
			}
			fmt.Printf("embedded Temporal on 127.0.0.1:%d, state in %s\n\n", port, dir)
			args := []string{"ferry", "--state-dir", dir, "--port", strconv.Itoa(port), "--address", "", "run", "--auto-approve", "--id", "demo-migrate", file}
			started := time.Now()
			if err := newApp().RunContext(c.Context, args); err != nil {
				return err
			}
			ok, err := estate.Settle(c.Context, os.Stdout, time.Since(started))
			if err == nil && !ok {
				err = cli.Exit("the demo found duplicated or lost records", exitFailed)
			}
			if err != nil {
				return err
			}
			return demoReport(c, dir, port)
		},
	}
}

// demoReport writes the demo run's report where it outlives the demo, and says where the
// run can be seen again in the Web UI.
func demoReport(c *cli.Context, dir string, port int) error {
	out, err := os.MkdirTemp("", "ferry-demo-report-")
	if err != nil {
		return err
	}
	file := filepath.Join(out, "demo-migrate.html")
	fmt.Println()
	args := []string{"ferry", "--state-dir", dir, "--port", strconv.Itoa(port), "--address", "", "report", "--file", file, "demo-migrate"}
	if err := newApp().RunContext(c.Context, args); err != nil {
		return err
	}
	if c.Int("ui-port") == 0 {
		return nil
	}
	how := "run the demo with --keep, then: ferry --state-dir " + dir + " --port " + strconv.Itoa(port) + " server"
	if c.Bool("keep") {
		how = "ferry --state-dir " + dir + " --port " + strconv.Itoa(port) + " server"
	}
	fmt.Printf("web UI: http://127.0.0.1:%d/namespaces/%s/workflows/demo-migrate (while a ferry process serves the demo's state: %s)\n",
		c.Int("ui-port"), c.String("namespace"), how)
	return nil
}
