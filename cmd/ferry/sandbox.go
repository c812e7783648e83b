package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/sandbox"
)

func sandboxCommand() *cli.Command {
	return &cli.Command{
		Name:  "sandbox",
		Usage: "run local Kafka clusters (real wire protocol, loopback) and demo apps that runbooks reach as sandbox: NAME",
		Description: `Starts the clusters, seeds the first one's topic orders, and runs the apps of
runbooks/migrate.yaml on it: orders-producer and the billing consumer (apps of kind sandbox,
scaled and repointed by apps.scale and apps.repoint). On Ctrl-C it prints what the apps
produced and consumed: duplicates and losses across a migration.

Examples:
  ferry sandbox &                         # then, in another terminal:
  ferry run runbooks/migrate.yaml
  ferry sandbox --cluster a --cluster b --data-dir /tmp/kafka --seed 0 --apps=false`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "cluster", Value: cli.NewStringSlice("origin", "target"), Usage: "cluster names"},
			&cli.StringFlag{Name: "data-dir", Usage: "keep data on disk here (survives restarts)"},
			&cli.IntFlag{Name: "seed", Value: 10000, Usage: "order events written to the first cluster's topic orders (0: none)"},
			&cli.BoolFlag{Name: "apps", Value: true, Usage: "run the orders-producer and billing apps on the first cluster"},
			&cli.IntFlag{Name: "rate", Value: 200, Usage: "orders per second of the producer"},
		},
		Action: func(c *cli.Context) error {
			var started []*sandbox.Cluster
			defer func() {
				for _, s := range started {
					s.Close()
				}
			}()
			addrs := map[string]string{}
			for _, name := range c.StringSlice("cluster") {
				s, err := sandbox.Start(name, c.String("data-dir"))
				if err != nil {
					return err
				}
				started = append(started, s)
				addrs[name] = s.Addr
				fmt.Printf("sandbox cluster %s on %s\n", name, s.Addr)
			}
			first := started[0]
			if n := c.Int("seed"); n > 0 {
				written, err := sandbox.SeedOrders(c.Context, first.Addr, 6, n)
				if err != nil {
					return err
				}
				fmt.Printf("seeded %d order events into %s/orders\n", written, first.Name)
			}
			var ledger *sandbox.Ledger
			if c.Bool("apps") {
				ledger = sandbox.NewLedger()
				second := first
				if len(started) > 1 {
					second = started[1]
				}
				apps := sandbox.NewSampleApps(first.Addr, second.Addr, c.Int("rate"), ledger)
				producer, consumer := apps.Producer, apps.Billing
				control, err := sandbox.Serve(apps.All())
				if err != nil {
					return err
				}
				defer control.Close()
				for _, a := range []sandbox.App{producer, consumer} {
					if _, err := a.Scale(c.Context, 1); err != nil {
						return err
					}
				}
				defer producer.Scale(context.Background(), 0)
				defer consumer.Scale(context.Background(), 0)
				addrs[sandbox.ControlName] = control.Addr
				fmt.Printf("apps orders-producer (%d/s) and billing running on %s; billing-new (stopped) on %s\n", c.Int("rate"), first.Name, second.Name)
			}
			reg := sandbox.RegistryFile(c.String("state-dir"))
			if err := sandbox.Register(reg, addrs); err != nil {
				return err
			}
			defer func() {
				names := make([]string, 0, len(addrs))
				for n := range addrs {
					names = append(names, n)
				}
				sandbox.Unregister(reg, names...)
			}()
			fmt.Printf("registered in %s; Ctrl-C stops\n", reg)
			<-c.Context.Done()
			if ledger != nil {
				n := ledger.Counts()
				fmt.Printf("\napps: produced %d, processed %d, duplicates %d, not processed %d\n", n.Produced, n.Consumed, n.Duplicates, n.Lost)
			}
			return nil
		},
	}
}
