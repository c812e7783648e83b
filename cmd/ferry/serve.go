package main

import (
	"github.com/ferryhq/ferry/internal/ports"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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
			// The worker runs in this process and finds the sandboxes by these variables.
			os.Setenv("FERRY_SANDBOX_ORIGIN", origin.Addr)
			os.Setenv("FERRY_SANDBOX_TARGET", target.Addr)
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
			os.Setenv("FERRY_SANDBOX_CONTROL", control.Addr)
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
			return demoReport(c.Context, origin.Addr, target.Addr, written, took, ledger.Counts(), producer.Paused())
		},
	}
}

// demoReport checks, for every group and partition, that the next record the group reads on
// the target is exactly the one it would have read next on the origin.
func demoReport(ctx context.Context, originAddr, targetAddr string, written int, took time.Duration, apps sandbox.Counts, paused time.Duration) error {
	oc, err := kgo.NewClient(kgo.SeedBrokers(originAddr))
	if err != nil {
		return err
	}
	defer oc.Close()
	tc, err := kgo.NewClient(kgo.SeedBrokers(targetAddr))
	if err != nil {
		return err
	}
	defer tc.Close()
	oadm, tadm := kadm.NewClient(oc), kadm.NewClient(tc)
	tends, err := tadm.ListEndOffsets(ctx, "orders")
	if err != nil {
		return err
	}
	var mirrored int64
	tends.Each(func(o kadm.ListedOffset) { mirrored += o.Offset })
	fmt.Printf("\nMigration report (%s)\n", took.Round(time.Millisecond))
	fmt.Printf("  records in orders on the target:   %d (%d seeded, plus the live producer's before and after the cutover)\n", mirrored, written)
	fmt.Printf("  producer paused for the cutover:   %s\n", paused.Round(time.Millisecond))
	fmt.Printf("  orders produced by the live app:   %d (before and after the cutover)\n", apps.Produced)
	fmt.Printf("  processed by billing:              %d\n", apps.Consumed)
	fmt.Printf("  duplicates consumed:               %d\n  records lost:                      %d\n", apps.Duplicates, apps.Lost)
	var checked, mismatched, missing int
	for _, g := range []string{"analytics", "shipping"} {
		oo, err := oadm.FetchOffsets(ctx, g)
		if err != nil {
			return err
		}
		to, err := tadm.FetchOffsets(ctx, g)
		if err != nil {
			return fmt.Errorf("group %s on the target: %w", g, err)
		}
		for _, o := range oo.Offsets().Sorted() {
			t, ok := to.Lookup(o.Topic, o.Partition)
			if !ok {
				missing++
				continue
			}
			a, err := nextRecord(ctx, originAddr, o.Topic, o.Partition, o.At)
			if err != nil {
				return err
			}
			b, err := nextRecord(ctx, targetAddr, o.Topic, o.Partition, t.At)
			if err != nil {
				return err
			}
			checked++
			if a != b {
				mismatched++ // the group would re-read or skip records
			}
		}
	}
	fmt.Printf("  stopped group positions checked:   %d (2 groups x 6 partitions)\n", checked)
	fmt.Printf("  positions not moved:               %d\n", missing)
	fmt.Printf("  positions off by any record:       %d (a group would re-read or skip records)\n", mismatched)
	if missing > 0 || mismatched > 0 || apps.Duplicates > 0 || apps.Lost > 0 {
		return cli.Exit("the demo found duplicated or lost records", exitFailed)
	}
	fmt.Println("  every group resumes on the target at exactly the record it would have read next on the origin")
	return nil
}

// nextRecord returns the value of the first committed record at or after offset, or "" at
// the end of the partition.
func nextRecord(ctx context.Context, addr, topic string, partition int32, offset int64) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}}))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return "", err
	}
	if e, _ := ends.Lookup(topic, partition); e.Offset <= offset {
		return "", nil
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(pctx, 1)
		if pctx.Err() != nil {
			return "", nil // only markers remain
		}
		for _, r := range fs.Records() {
			return string(r.Value), nil
		}
	}
}
