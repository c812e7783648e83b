package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/workflows"
)

// scheduleCommand puts runbooks on Temporal Schedules: recurring DR drills, nightly checks.
func scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:  "schedule",
		Usage: "run a runbook on a schedule (recurring DR drills)",
		Subcommands: []*cli.Command{
			scheduleCreateCommand(), scheduleListCommand(), scheduleDescribeCommand(),
			schedulePauseCommand(), scheduleUnpauseCommand(), scheduleTriggerCommand(), scheduleDeleteCommand(),
		},
	}
}

// withSchedule runs fn on the schedule named by the command's one argument.
func withSchedule(fn func(c *cli.Context, h client.ScheduleHandle) error) cli.ActionFunc {
	return connected("schedule", " (see ferry schedule list)", func(c *cli.Context, s *session, n string) error {
		return fn(c, s.client.ScheduleClient().GetHandle(c.Context, n))
	})
}

func scheduleCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a schedule for a runbook",
		ArgsUsage: "NAME FILE",
		Description: `Examples:
  ferry schedule create --cron "0 3 * * SAT" weekly-drill runbooks/drill.yaml
  ferry schedule create --every 1h --overlap skip hourly-check runbooks/approval-demo.yaml`,
		Flags: append(paramFlags(),
			&cli.StringSliceFlag{Name: "cron", Usage: "cron expression (UTC); repeatable"},
			&cli.DurationFlag{Name: "every", Usage: "interval, e.g. 24h"},
			&cli.StringFlag{Name: "overlap", Value: "skip", Usage: "when a run is still going: skip, buffer-one, allow, cancel-other, terminate-other"},
			&cli.BoolFlag{Name: "paused", Usage: "create it paused"},
			&cli.StringFlag{Name: "note", Usage: "why the schedule exists"},
		),
		Action: scheduleCreate,
	}
}

func scheduleCreate(c *cli.Context) error {
	if c.NArg() != 2 {
		return cli.Exit("schedule create: NAME FILE", exitInvalid)
	}
	n, file := c.Args().Get(0), c.Args().Get(1)
	if len(c.StringSlice("cron")) == 0 && c.Duration("every") == 0 {
		return cli.Exit("schedule create: give --cron or --every", exitInvalid)
	}
	overlap, ok := overlapPolicies[c.String("overlap")]
	if !ok {
		return cli.Exit("schedule create: unknown --overlap "+c.String("overlap"), exitInvalid)
	}
	plan, err := loadPlan(c, file)
	if err != nil {
		return err
	}
	spec := client.ScheduleSpec{CronExpressions: c.StringSlice("cron")}
	if d := c.Duration("every"); d > 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: d}}
	}
	s, err := connect(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	action := &client.ScheduleWorkflowAction{
		ID:            n,
		Workflow:      workflows.RunbookWorkflowName,
		Args:          []any{workflows.Input{Plan: plan}},
		TaskQueue:     workflows.TaskQueue,
		Memo:          map[string]any{workflows.MemoRunbook: plan.Runbook, "file": plan.File, "digest": plan.Digest, "schedule": n},
		StaticSummary: fmt.Sprintf("runbook %s (schedule %s)", plan.Runbook, n),
		StaticDetails: fmt.Sprintf("%s\n\n%s, sha256 %s", plan.Description, plan.File, plan.Digest[:min(12, len(plan.Digest))]),
	}
	for _, sa := range searchAttributes(plan.Runbook) {
		action.TypedSearchAttributes = sa
		_, err = s.client.ScheduleClient().Create(c.Context, client.ScheduleOptions{
			ID:      n,
			Spec:    spec,
			Overlap: overlap,
			Paused:  c.Bool("paused"),
			Note:    c.String("note"),
			Action:  action,
		})
		if !unknownSearchAttribute(err) {
			break
		}
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("schedule create %s: %v", n, err), exitInvalid)
	}
	fmt.Printf("schedule %s created for runbook %s\n", n, plan.Runbook)
	return nil
}

func scheduleListCommand() *cli.Command {
	return &cli.Command{Name: "list", Usage: "list schedules", Action: scheduleList}
}

func scheduleList(c *cli.Context) error {
	s, err := connect(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	it, err := s.client.ScheduleClient().List(c.Context, client.ScheduleListOptions{})
	if err != nil {
		return cli.Exit(fmt.Sprintf("list schedules: %v", err), exitUnreachable)
	}
	fmt.Printf("%-30s %-8s %s\n", "SCHEDULE", "PAUSED", "NEXT")
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return err
		}
		next := ""
		if len(e.NextActionTimes) > 0 {
			next = e.NextActionTimes[0].Local().Format(time.RFC3339)
		}
		fmt.Printf("%-30s %-8v %s\n", e.ID, e.Paused, next)
	}
	return nil
}

func scheduleDescribeCommand() *cli.Command {
	return &cli.Command{
		Name: "describe", Usage: "show a schedule: spec, state, recent and next runs", ArgsUsage: "NAME",
		Action: withSchedule(scheduleDescribe),
	}
}

func scheduleDescribe(c *cli.Context, h client.ScheduleHandle) error {
	d, err := h.Describe(c.Context)
	if err != nil {
		return cli.Exit(fmt.Sprintf("describe %s: %v", h.GetID(), err), exitInvalid)
	}
	fmt.Printf("schedule %s\n  paused: %v %s\n", h.GetID(), d.Schedule.State.Paused, d.Schedule.State.Note)
	if sp := d.Schedule.Spec; sp != nil {
		for _, cr := range sp.CronExpressions {
			fmt.Printf("  cron: %s\n", cr)
		}
		for _, cal := range sp.Calendars {
			fmt.Printf("  calendar: %+v\n", cal)
		}
		for _, iv := range sp.Intervals {
			fmt.Printf("  every: %s\n", iv.Every)
		}
	}
	fmt.Printf("  runs so far: %d (missed: %d, skipped for overlap: %d)\n", d.Info.NumActions, d.Info.NumActionsMissedCatchupWindow, d.Info.NumActionsSkippedOverlap)
	for _, r := range d.Info.RecentActions {
		fmt.Printf("  ran %s: %s\n", r.ActualTime.Local().Format(time.RFC3339), r.StartWorkflowResult.WorkflowID)
	}
	for _, t := range d.Info.NextActionTimes {
		fmt.Printf("  next %s\n", t.Local().Format(time.RFC3339))
	}
	return nil
}

func schedulePauseCommand() *cli.Command {
	return &cli.Command{
		Name: "pause", Usage: "pause a schedule", ArgsUsage: "NAME",
		Flags: []cli.Flag{&cli.StringFlag{Name: "note"}},
		Action: withSchedule(func(c *cli.Context, h client.ScheduleHandle) error {
			return scheduleDone(h, "paused", h.Pause(c.Context, client.SchedulePauseOptions{Note: c.String("note")}))
		}),
	}
}

func scheduleUnpauseCommand() *cli.Command {
	return &cli.Command{
		Name: "unpause", Usage: "unpause a schedule", ArgsUsage: "NAME",
		Action: withSchedule(func(c *cli.Context, h client.ScheduleHandle) error {
			return scheduleDone(h, "unpaused", h.Unpause(c.Context, client.ScheduleUnpauseOptions{}))
		}),
	}
}

func scheduleTriggerCommand() *cli.Command {
	return &cli.Command{
		Name: "trigger", Usage: "start a run of the schedule now", ArgsUsage: "NAME",
		Action: withSchedule(func(c *cli.Context, h client.ScheduleHandle) error {
			return scheduleDone(h, "triggered", h.Trigger(c.Context, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}))
		}),
	}
}

func scheduleDeleteCommand() *cli.Command {
	return &cli.Command{
		Name: "delete", Usage: "delete a schedule (its runs stay)", ArgsUsage: "NAME",
		Action: withSchedule(func(c *cli.Context, h client.ScheduleHandle) error {
			return scheduleDone(h, "deleted", h.Delete(c.Context))
		}),
	}
}

// scheduleDone reports what a schedule command did, or why it could not.
func scheduleDone(h client.ScheduleHandle, what string, err error) error {
	if err != nil {
		return cli.Exit(err.Error(), exitInvalid)
	}
	fmt.Printf("schedule %s %s\n", h.GetID(), what)
	return nil
}

var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"skip":            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer-one":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"allow":           enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
	"cancel-other":    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate-other": enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
}
