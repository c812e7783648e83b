package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/kafka"
	"github.com/ferryhq/ferry/internal/sandbox"
)

func sandboxCommand() *cli.Command {
	return &cli.Command{
		Name:  "sandbox",
		Usage: "run local Kafka clusters (real wire protocol, loopback) that runbooks reach as sandbox: NAME",
		Description: `Examples:
  ferry sandbox                          # clusters origin and target
  ferry sandbox --cluster a --cluster b --data-dir /tmp/kafka --seed 10000`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "cluster", Value: cli.NewStringSlice("origin", "target"), Usage: "cluster names"},
			&cli.StringFlag{Name: "data-dir", Usage: "keep data on disk here (survives restarts)"},
			&cli.IntFlag{Name: "seed", Usage: "write this many order events to the first cluster's topic orders"},
		},
		Action: func(c *cli.Context) error {
			var started []*sandbox.Cluster
			defer func() {
				for _, s := range started {
					s.Close()
				}
			}()
			for _, name := range c.StringSlice("cluster") {
				s, err := sandbox.Start(name, c.String("data-dir"))
				if err != nil {
					return err
				}
				started = append(started, s)
				fmt.Printf("sandbox cluster %s on %s\n", name, s.Addr)
			}
			reg := kafka.SandboxRegistry()
			if err := sandbox.Register(reg, started...); err != nil {
				return err
			}
			defer sandbox.Unregister(reg, started...)
			if n := c.Int("seed"); n > 0 {
				written, err := sandbox.SeedOrders(c.Context, started[0].Addr, 6, n)
				if err != nil {
					return err
				}
				fmt.Printf("seeded %d order events into %s/orders\n", written, started[0].Name)
			}
			fmt.Printf("registered in %s; Ctrl-C stops\n", reg)
			<-c.Context.Done()
			return nil
		},
	}
}
