package main

import (
	"github.com/ferryhq/ferry/internal/ports"

	"context"
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
			origin, err := sandbox.Start("origin", "")
			if err != nil {
				return err
			}
			defer origin.Close()
			target, err := sandbox.Start("target", "")
			if err != nil {
				return err
			}
			defer target.Close()
			// The worker runs in this process and finds the sandboxes here.
			sandboxes.Set("origin", origin.Addr)
			sandboxes.Set("target", target.Addr)
			written, err := sandbox.SeedOrders(c.Context, origin.Addr, 6, c.Int("records"))
			if err != nil {
				return err
			}
			// Two groups that stopped at some point, and live apps: a producer and the billing consumer.
			for g, frac := range map[string]float64{"shipping": 1, "analytics": 0.25} {
				if _, err := sandbox.CommitGroup(c.Context, origin.Addr, g, "orders", frac); err != nil {
					return err
				}
			}
			ledger := sandbox.NewLedger()
			producer := sandbox.NewProducer("orders-producer", origin.Addr, "orders", c.Int("rate"), ledger)
			consumer := sandbox.NewConsumer("billing", origin.Addr, "billing", "orders", ledger)
			control, err := sandbox.Serve(map[string]sandbox.App{"orders-producer": producer, "billing": consumer})
			if err != nil {
				return err
			}
			defer control.Close()
			sandboxes.Set(sandbox.ControlName, control.Addr)
			for _, a := range []sandbox.App{producer, consumer} {
				if _, err := a.Scale(c.Context, 1); err != nil {
					return err
				}
			}
			defer producer.Scale(context.Background(), 0)
			defer consumer.Scale(context.Background(), 0)
			fmt.Printf("ferry demo: sandbox origin %s with %d order events (an aborted and a committed transaction among them) and groups shipping, analytics;\n"+
				"  live apps: orders-producer (%d/s) and the billing consumer; sandbox target %s\n", origin.Addr, written, c.Int("rate"), target.Addr)
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
			took := time.Since(started)
			// Let the apps work on the target a moment, then stop the producer and let billing
			// read everything before counting.
			time.Sleep(time.Second)
			if _, err := producer.Scale(c.Context, 0); err != nil {
				return err
			}
			deadline := time.Now().Add(20 * time.Second)
			for ledger.Counts().Lost > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if _, err := consumer.Scale(c.Context, 0); err != nil {
				return err
			}
			ok, err := sandbox.Report(c.Context, os.Stdout, sandbox.Migration{
				Origin: origin.Addr, Target: target.Addr, Seeded: written, Took: took, Apps: ledger.Counts(), Paused: producer.Paused(),
			})
			if err == nil && !ok {
				err = cli.Exit("the demo found duplicated or lost records", exitFailed)
			}
			return err
		},
	}
}
