package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/urfave/cli/v2"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/internal/metrics"
	"github.com/ferryhq/ferry/workflows"
)

func approveCommand() *cli.Command {
	return &cli.Command{
		Name:      "approve",
		Usage:     "approve (or --reject) a run's waiting approval step",
		ArgsUsage: "RUN",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "step", Usage: "the approval step; needed only when several wait"},
			&cli.StringFlag{Name: "by", Usage: "who approves", Value: currentUser()},
			&cli.StringFlag{Name: "comment", Aliases: []string{"m"}, Usage: "why"},
			&cli.BoolFlag{Name: "reject", Usage: "reject: the step fails and the run rolls back if it may"},
		},
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			a := workflows.Approval{Step: c.String("step"), By: c.String("by"), Comment: c.String("comment"), Reject: c.Bool("reject")}
			step, err := update(c.Context, s.client, id, workflows.UpdateApprove, a)
			if err != nil {
				return err
			}
			verb := "approved"
			if a.Reject {
				verb = "rejected"
			}
			fmt.Printf("%s step %v of run %s\n", verb, step, id)
			return nil
		}),
	}
}

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "pause a run before its next step (the current step finishes); ferry resume continues it",
		ArgsUsage: "RUN",
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			if _, err := update(c.Context, s.client, id, workflows.UpdatePause); err != nil {
				return err
			}
			fmt.Printf("run %s will pause before its next step\n", id)
			return nil
		}),
	}
}

func cancelCommand() *cli.Command {
	return &cli.Command{
		Name:      "cancel",
		Usage:     "cancel a run; completed steps roll back unless it passed its point of no return",
		ArgsUsage: "RUN",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "wait", Usage: "wait until the rollback has finished"}},
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			if err := s.client.CancelWorkflow(c.Context, id, ""); err != nil {
				return cli.Exit(fmt.Sprintf("cancel %s: %v", id, err), exitInvalid)
			}
			fmt.Printf("cancellation of run %s requested\n", id)
			if !c.Bool("wait") {
				return nil
			}
			for {
				st, _, err := fetchStatus(c.Context, s.client, id)
				if err != nil {
					return err
				}
				if st.Phase.Terminal() {
					fmt.Printf("run %s %s: %s\n", id, st.Phase, st.Error)
					return nil
				}
				time.Sleep(300 * time.Millisecond)
			}
		}),
	}
}

func terminateCommand() *cli.Command {
	return &cli.Command{
		Name:      "terminate",
		Usage:     "end a run at once, running no rollback: for a run that cancel cannot end",
		ArgsUsage: "RUN",
		Description: `Temporal ends the run and its mirror where they stand. Steps that completed keep their
effects and nothing is rolled back: prefer 'ferry cancel', which rolls back.`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "reason", Aliases: []string{"m"}, Usage: "why, kept in the run's history (required)"}},
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			if strings.TrimSpace(c.String("reason")) == "" {
				return cli.Exit("terminate: say why with -m, e.g. ferry terminate -m 'origin cluster gone' "+printable(id), exitInvalid)
			}
			if err := s.client.TerminateWorkflow(c.Context, id, "", c.String("reason")); err != nil {
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					return cli.Exit(fmt.Sprintf("no running run %q (see ferry list)", id), exitInvalid)
				}
				return cli.Exit(fmt.Sprintf("terminate %s: %v", id, err), exitUnreachable)
			}
			fmt.Printf("run %s terminated; no rollback ran: what its completed steps changed stays (ferry status %s)\n", id, id)
			return nil
		}),
	}
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list runs, newest first",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "runbook", Usage: "only runs of this runbook"},
			&cli.StringFlag{Name: "state", Usage: "only runs in this state: " + strings.Join(runStates, ", ")},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most this many runs (1 or more)"},
			outputFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Int("limit") < 1 {
				return cli.Exit(fmt.Sprintf("list: --limit %d: give 1 or more", c.Int("limit")), exitInvalid)
			}
			if st := c.String("state"); st != "" && !slices.Contains(runStates, st) {
				return cli.Exit(fmt.Sprintf("list: --state %s: give one of %s", printable(st), strings.Join(runStates, ", ")), exitInvalid)
			}
			s, err := connect(c, false)
			if err != nil {
				return err
			}
			defer s.Close()
			runs, err := listRuns(c.Context, s, c.String("runbook"), c.String("state"), c.Int("limit"))
			if err != nil {
				return err
			}
			if c.String("output") == "json" {
				return printJSON(runs)
			}
			fmt.Printf("%-40s %-24s %-21s %-20s %-20s %s\n", "RUN", "RUNBOOK", "STATUS", "STARTED", "CLOSED", "AT")
			for _, r := range runs {
				closed := ""
				if !r.Closed.IsZero() {
					closed = r.Closed.Local().Format("2006-01-02 15:04:05")
				}
				fmt.Printf("%-40s %-24s %-21s %-20s %-20s %s\n", r.ID, r.Runbook, r.Status, r.Started.Local().Format("2006-01-02 15:04:05"), closed, r.At)
			}
			return nil
		},
	}
}

type runSummary struct {
	ID      string    `json:"id"`
	Runbook string    `json:"runbook"`
	Status  string    `json:"status"`
	Started time.Time `json:"started"`
	Closed  time.Time `json:"closed,omitzero"`
	// At are the steps a running run is at (running, retrying, waiting for a person).
	At string `json:"at,omitempty"`
}

// runStates are the states ferry list shows and filters by: runStatus's words.
// A run keeping FerryPhase current shows its phase: waiting, paused, rolling back, rolled
// back; "running" selects every run not yet ended.
var runStates = []string{"running", string(workflows.PhaseWaiting), string(workflows.PhasePaused), string(workflows.PhaseRollingBack),
	string(workflows.PhaseSucceeded), string(workflows.PhaseFailed), string(workflows.PhaseRolledBack), string(workflows.PhaseCancelled),
	string(workflows.PhaseTerminated), string(workflows.PhaseTimedOut)}

// listRuns lists up to limit runs, newest first, of the runbook name and in the state given
// (either empty: any).
func listRuns(ctx context.Context, s *session, name, state string, limit int) ([]runSummary, error) {
	out := []runSummary{}
	var token []byte
	dc := converter.GetDefaultDataConverter()
	for len(out) < limit {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s'", workflows.RunbookWorkflowName),
			NextPageToken: token,
		})
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("list runs: %v", err), exitUnreachable)
		}
		for _, e := range resp.GetExecutions() {
			r := runSummary{ID: e.GetExecution().GetWorkflowId(), Status: runStatus(e.GetStatus()), Started: e.GetStartTime().AsTime()}
			if ct := e.GetCloseTime(); ct != nil {
				r.Closed = ct.AsTime()
			}
			if p, ok := e.GetMemo().GetFields()[workflows.MemoRunbook]; ok {
				_ = dc.FromPayload(p, &r.Runbook)
			}
			running := e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			sa := e.GetSearchAttributes().GetIndexedFields()
			var phase string
			if p, ok := sa[workflows.SearchAttributePhase]; ok && (running || e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED) {
				_ = dc.FromPayload(p, &phase) // a failed run's phase says whether it rolled back
			}
			r.Status = cmp.Or(phase, r.Status)
			if p, ok := sa[workflows.SearchAttributeStep]; ok && running {
				_ = dc.FromPayload(p, &r.At)
			}
			// Runs that continued as new appear once per hand-over; keep the newest.
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW || (name != "" && r.Runbook != name) ||
				(state != "" && r.Status != state && (state != "running" || !running)) {
				continue
			}
			out = append(out, r)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// runStatus names an execution status in the words ferry status uses for a run's phase.
func runStatus(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return string(workflows.PhaseSucceeded)
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return string(workflows.PhaseCancelled)
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return string(workflows.PhaseTerminated)
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return string(workflows.PhaseTimedOut)
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return string(workflows.PhaseFailed) // or rolled back: ferry status RUN says which
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "show a run's event history: steps scheduled, completed, failed, approvals, timers",
		ArgsUsage: "RUN",
		Flags:     []cli.Flag{outputFlag()},
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			it := s.client.GetWorkflowHistory(c.Context, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			scheduled := map[int64]string{}
			events := []historyEvent{}
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					var nf *serviceerror.NotFound
					if errors.As(err, &nf) {
						return cli.Exit(fmt.Sprintf("no run %q (see ferry list)", id), exitInvalid)
					}
					return cli.Exit(fmt.Sprintf("history of %s: %v", id, err), exitUnreachable)
				}
				if line := historyLine(e, scheduled); line != "" {
					events = append(events, historyEvent{ID: e.GetEventId(), Time: e.GetEventTime().AsTime(), Event: line})
				}
			}
			if c.String("output") == "json" {
				return printJSON(events)
			}
			for _, e := range events {
				fmt.Printf("%5d  %s  %s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Event)
			}
			return nil
		}),
	}
}

// historyEvent is one line of ferry history; -o json prints an array of them.
type historyEvent struct {
	ID    int64     `json:"id"`
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
}

func historyLine(e *historypb.HistoryEvent, scheduled map[int64]string) string {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		return "run started"
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := e.GetActivityTaskScheduledEventAttributes()
		scheduled[e.GetEventId()] = a.GetActivityId()
		return fmt.Sprintf("step %s scheduled (%s)", a.GetActivityId(), a.GetActivityType().GetName())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		return fmt.Sprintf("step %s completed", scheduled[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()])
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		a := e.GetActivityTaskFailedEventAttributes()
		return fmt.Sprintf("step %s failed: %s", scheduled[a.GetScheduledEventId()], a.GetFailure().GetMessage())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		return fmt.Sprintf("step %s timed out", scheduled[e.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()])
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		return fmt.Sprintf("step %s cancelled", scheduled[e.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()])
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		return fmt.Sprintf("timer %s", e.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
		return "accepted " + e.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetName()
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
		return "cancellation requested"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		return "run completed"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		return "run failed: " + e.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage()
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		return "run cancelled"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return "continued as new (history hand-over)"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		a := e.GetWorkflowExecutionTerminatedEventAttributes()
		return fmt.Sprintf("run terminated by %s: %s (no rollback ran)", orUnknown(a.GetIdentity()), orUnknown(a.GetReason()))
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		return "run timed out (no rollback ran)"
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
		return "workflow task failed: " + e.GetWorkflowTaskFailedEventAttributes().GetFailure().GetMessage()
	}
	return ""
}

// countRuns counts the runs not yet ended by runbook and phase (FerryPhase; "running" for a
// run that does not keep it), for the ferry_runs series. It reads at most ten pages.
func countRuns(ctx context.Context, cl client.Client) (map[metrics.RunKey]int, error) {
	counts := map[metrics.RunKey]int{}
	dc := converter.GetDefaultDataConverter()
	var token []byte
	for range 10 {
		resp, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.RunbookWorkflowName),
			NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			k := metrics.RunKey{Phase: string(workflows.PhaseRunning)}
			if p, ok := e.GetMemo().GetFields()[workflows.MemoRunbook]; ok {
				_ = dc.FromPayload(p, &k.Runbook)
			}
			if p, ok := e.GetSearchAttributes().GetIndexedFields()[workflows.SearchAttributePhase]; ok {
				_ = dc.FromPayload(p, &k.Phase)
			}
			counts[k]++
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return counts, nil
}
