package main

// The commands that read runbooks without Temporal: validate, plan, steps, schema.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/runbook"
)

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check runbooks and report every problem with file, line, column and field",
		ArgsUsage: "FILE...",
		Flags:     []cli.Flag{outputFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("validate: name one or more runbook files", exitInvalid)
			}
			var all runbook.Errors
			type result struct {
				File    string `json:"file"`
				Runbook string `json:"runbook,omitempty"`
				Steps   int    `json:"steps,omitempty"`
				Valid   bool   `json:"valid"`
			}
			var results []result
			for _, f := range c.Args().Slice() {
				rb, _, err := runbook.LoadFile(f)
				r := result{File: f, Valid: err == nil}
				if rb != nil {
					r.Runbook, r.Steps = rb.Metadata.Name, len(rb.Steps)
				}
				results = append(results, r)
				var errs runbook.Errors
				if errors.As(err, &errs) {
					all = append(all, errs...)
				}
			}
			if c.String("output") == "json" {
				if all == nil {
					all = runbook.Errors{}
				}
				_ = printJSON(map[string]any{"results": results, "errors": all})
			} else {
				for _, e := range all {
					fmt.Fprintln(os.Stderr, e)
				}
				for _, r := range results {
					if r.Valid {
						fmt.Printf("ok  %s (runbook %s, %d steps)\n", r.File, r.Runbook, r.Steps)
					}
				}
			}
			if len(all) > 0 {
				return cli.Exit(fmt.Sprintf("%d problem(s) found", len(all)), exitInvalid)
			}
			return nil
		},
	}
}

func paramFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "set", Usage: "set a param: name=value (lists comma-separated); repeatable"},
		&cli.StringFlag{Name: "values", Aliases: []string{"f"}, Usage: "YAML file of param values"},
	}
}

// loadPlan reads, validates and compiles a runbook with the command's param values.
func loadPlan(c *cli.Context, file string) (*runbook.Plan, error) {
	rb, src, err := runbook.LoadFile(file)
	if err != nil {
		return nil, cli.Exit(err.Error(), exitInvalid)
	}
	var values map[string]any
	if vf := c.String("values"); vf != "" {
		b, err := os.ReadFile(vf)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("--values: %v", err), exitInvalid)
		}
		if err := yaml.Unmarshal(b, &values); err != nil {
			return nil, cli.Exit(fmt.Sprintf("--values %s: %v", vf, err), exitInvalid)
		}
	}
	plan, err := rb.Compile(src, values, c.StringSlice("set"))
	if err != nil {
		return nil, cli.Exit(err.Error(), exitInvalid)
	}
	return plan, nil
}

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "show what a run would do: resolved steps, parameters and what each touches (changes nothing)",
		ArgsUsage: "FILE",
		Flags:     append(paramFlags(), outputFlag()),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("plan: name one runbook file", exitInvalid)
			}
			plan, err := loadPlan(c, c.Args().First())
			if err != nil {
				return err
			}
			if c.String("output") == "json" {
				return printJSON(plan)
			}
			printPlan(plan)
			return nil
		},
	}
}

func printPlan(p *runbook.Plan) {
	fmt.Printf("runbook %s (%s, sha256 %s)\n", p.Runbook, p.File, p.Digest[:12])
	if p.Description != "" {
		fmt.Printf("  %s\n", p.Description)
	}
	if len(p.Params) > 0 {
		fmt.Println("params:")
		keys := make([]string, 0, len(p.Params))
		for k := range p.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("  %s = %v\n", k, p.Params[k])
		}
	}
	for name, cl := range p.Clusters {
		fmt.Printf("cluster %s: %s\n", name, describeCluster(cl))
	}
	if r := p.Replication; r != nil {
		fmt.Printf("replication %s -> %s (engine %s): %s, %s; groups: %s\n", r.Origin, r.Target, r.Engine.Or(), r.TopicScope(), r.NameScope(), r.GroupScope())
	}
	fmt.Println("steps:")
	printPlanSteps(p.Steps, 1)
	if len(p.Rollback) > 0 {
		fmt.Println("rollback (for completed steps, newest first, before the point of no return):")
		printPlanSteps(p.Rollback, 1)
	}
}

func describeCluster(c *runbook.Cluster) string {
	parts := []string{}
	if c.Sandbox != "" {
		parts = append(parts, "sandbox "+c.Sandbox)
	} else {
		parts = append(parts, strings.Join(c.Bootstrap, ","))
	}
	if c.SASL != nil {
		parts = append(parts, "SASL "+c.SASL.Mechanism+" (user "+c.SASL.Username.Describe()+", password "+c.SASL.Password.Describe()+")")
	}
	if c.TLS != nil {
		parts = append(parts, "TLS")
	}
	return strings.Join(parts, ", ")
}

func printPlanSteps(steps []*runbook.PlanStep, depth int) {
	ind := strings.Repeat("  ", depth)
	for i, s := range steps {
		if s.Parallel != nil {
			ends := ""
			if s.EndWith != "" {
				ends = ", ending when " + s.EndWith + " does (the others are stopped)"
			}
			fmt.Printf("%s%d. %s: in parallel%s%s\n", ind, i+1, s.ID, ends, planNotes(s))
			printPlanSteps(s.Parallel, depth+2)
			continue
		}
		fmt.Printf("%s%d. %s: %s%s\n", ind, i+1, s.ID, s.Uses, planNotes(s))
		if len(s.With) > 0 {
			b, _ := json.Marshal(s.With)
			fmt.Printf("%s     with %s\n", ind, b)
		}
		switch {
		case len(s.Touches) > 0:
			fmt.Printf("%s     touches %s\n", ind, strings.Join(s.Touches, ", "))
		case s.Control:
			fmt.Printf("%s     touches nothing outside the run\n", ind)
		}
	}
}

func planNotes(s *runbook.PlanStep) string {
	var n []string
	if s.When != "" {
		n = append(n, "when "+s.When)
	}
	if s.Undoes != "" {
		n = append(n, "undoes "+s.Undoes)
	}
	if s.Timeout > 0 {
		n = append(n, "timeout "+s.Timeout.String())
	}
	switch {
	case s.Retry != nil && s.Retry.UntilTimeout:
		n = append(n, "transient failures retried until then")
	case s.Retry != nil && s.Retry.MaxAttempts > 1:
		n = append(n, fmt.Sprintf("up to %d attempts", s.Retry.MaxAttempts))
	}
	if s.PointOfNoReturn {
		n = append(n, "POINT OF NO RETURN")
	}
	if s.ContinueOnError {
		n = append(n, "continues on error")
	}
	if len(n) == 0 {
		return ""
	}
	return " [" + strings.Join(n, "; ") + "]"
}

func stepsCommand() *cli.Command {
	return &cli.Command{
		Name:      "steps",
		Usage:     "list the step types a runbook can use, with their parameters and outputs",
		ArgsUsage: "[TYPE]",
		Flags:     []cli.Flag{outputFlag()},
		Action: func(c *cli.Context) error {
			types := runbook.StepTypes()
			if name := c.Args().First(); name != "" {
				t, ok := runbook.Lookup(name)
				if !ok {
					return cli.Exit(fmt.Sprintf("unknown step type %q", name), exitInvalid)
				}
				types = []*runbook.StepType{t}
			}
			if c.String("output") == "json" {
				type doc struct {
					Name    string           `json:"name"`
					Summary string           `json:"summary"`
					Doc     string           `json:"doc,omitempty"`
					Control bool             `json:"control"`
					Params  []string         `json:"params,omitempty"`
					Outputs []runbook.Output `json:"outputs,omitempty"`
				}
				var out []doc
				for _, t := range types {
					out = append(out, doc{t.Name, t.Summary, t.Doc, t.Control, runbook.ParamsDoc(t), t.Outputs})
				}
				return printJSON(out)
			}
			for _, t := range types {
				kind := "activity"
				if t.Control {
					kind = "control"
				}
				fmt.Printf("%s  (%s)\n  %s\n", t.Name, kind, t.Summary)
				if t.Doc != "" {
					fmt.Printf("  %s\n", t.Doc)
				}
				for _, p := range runbook.ParamsDoc(t) {
					fmt.Printf("    with.%s\n", p)
				}
				for _, o := range t.Outputs {
					fmt.Printf("    outputs.%s: %s\n", o.Name, o.Doc)
				}
				fmt.Println()
			}
			return nil
		},
	}
}

func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:  "schema",
		Usage: "print the runbook JSON Schema (for editors; also kept in runbooks/)",
		Action: func(c *cli.Context) error {
			b, err := runbook.Schema()
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(append(b, '\n'))
			return err
		},
	}
}
