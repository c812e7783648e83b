package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/internal/report"
	"github.com/ferryhq/ferry/workflows"
)

var reportFormats = []string{"html", "md", "json"}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "write a run's report (steps, lag, pause, groups moved, parity, drills), or a schedule's drill history",
		ArgsUsage: "RUN|SCHEDULE",
		Description: `HTML (the default) is one self-contained file to attach to a change ticket: written to
ferry-report-RUN.html unless --file says where (- is stdout). md and json go to stdout unless
--file is given. Examples:
  ferry report demo-migrate
  ferry report -o md --file migration.md demo-migrate
  ferry report nightly-drill`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "html", Usage: "html, md or json",
				Action: func(_ *cli.Context, v string) error {
					if !slices.Contains(reportFormats, v) {
						return cli.Exit(fmt.Sprintf("-o %s: give html, md or json", printable(v)), exitInvalid)
					}
					return nil
				}},
			&cli.StringFlag{Name: "file", Usage: "where to write it (- for stdout)"},
			&cli.IntFlag{Name: "runs", Value: 30, Usage: "for a schedule, its newest runs to include"},
		},
		Action: connected("run or schedule", " (see ferry list, ferry schedule list)", func(c *cli.Context, s *session, id string) error {
			r, err := buildReport(c.Context, s, c.String("namespace"), id, c.Int("runs"))
			if err != nil {
				return err
			}
			return writeReport(c, r, id)
		}),
	}
}

// buildReport reports on the run id, or, when no run has that id, on the schedule.
func buildReport(ctx context.Context, s *session, namespace, id string, runs int) (*report.Report, error) {
	st, _, err := fetchStatus(ctx, s.client, id)
	if err == nil {
		return report.FromStatus(st, runDescription(ctx, s.client, id), s.runLink(namespace, id), time.Now()), nil
	}
	if _, derr := s.client.ScheduleClient().GetHandle(ctx, id).Describe(ctx); derr != nil {
		var nf *serviceerror.NotFound
		if errors.As(derr, &nf) {
			return nil, cli.Exit(fmt.Sprintf("no run or schedule %q (see ferry list, ferry schedule list)", printable(id)), exitInvalid)
		}
		return nil, err
	}
	return scheduleReport(ctx, s, id, runs)
}

// scheduleReport gathers the drills of a schedule's newest runs, oldest first.
func scheduleReport(ctx context.Context, s *session, id string, limit int) (*report.Report, error) {
	r := &report.Report{Schedule: id, Generated: time.Now(), Steps: []report.Step{}}
	resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query:    fmt.Sprintf("TemporalScheduledById = '%s'", strings.ReplaceAll(id, "'", "")),
		PageSize: int32(max(limit, 1)),
	})
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("runs of schedule %s: %v", id, err), exitUnreachable)
	}
	dc := converter.GetDefaultDataConverter()
	for _, e := range resp.GetExecutions()[:min(len(resp.GetExecutions()), max(limit, 1))] {
		run := e.GetExecution().GetWorkflowId()
		if r.Runbook == "" {
			if p, ok := e.GetMemo().GetFields()[workflows.MemoRunbook]; ok {
				_ = dc.FromPayload(p, &r.Runbook)
			}
		}
		st, _, err := fetchStatus(ctx, s.client, run)
		if err != nil {
			continue // a run that cannot answer is left out, not the report
		}
		one := report.FromStatus(st, "", "", r.Generated)
		r.History = append(r.History, report.DrillRun{Run: run, Started: st.StartedAt, Phase: string(st.Phase), Drills: one.Drills})
	}
	slices.SortFunc(r.History, func(a, b report.DrillRun) int { return a.Started.Compare(b.Started) })
	return r, nil
}

// runDescription is the runbook's description the run was started with (its static details).
func runDescription(ctx context.Context, cl client.Client, id string) string {
	desc, err := cl.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return ""
	}
	var details string
	if p := desc.GetExecutionConfig().GetUserMetadata().GetDetails(); p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &details)
	}
	first, _, _ := strings.Cut(details, "\n\n")
	return strings.TrimSpace(first)
}

func writeReport(c *cli.Context, r *report.Report, id string) error {
	var b bytes.Buffer
	var err error
	switch c.String("output") {
	case "md":
		err = r.Markdown(&b)
	case "json":
		err = r.JSON(&b)
	default:
		err = r.HTML(&b)
	}
	if err != nil {
		return err
	}
	file := c.String("file")
	if file == "" && c.String("output") == "html" {
		file = "ferry-report-" + safeFileName(id) + ".html"
	}
	if file == "" || file == "-" {
		_, err := os.Stdout.Write(b.Bytes())
		return err
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		return cli.Exit(fmt.Sprintf("report: %v", err), exitInvalid)
	}
	fmt.Printf("report: %s\n", file)
	return nil
}

// safeFileName keeps a run id usable as a file name.
func safeFileName(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, id)
}
