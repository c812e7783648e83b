package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/term"

	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

func watchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "start and return at once, do not watch"},
		&cli.BoolFlag{Name: "auto-approve", Usage: "approve every approval step as it comes (demos, tests)"},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "start a runbook and watch it to the end",
		ArgsUsage: "FILE",
		Description: `Validates the runbook, resolves params and starts it as a durable workflow, then shows
live progress. Exit code: 0 succeeded, 1 failed or rolled back, 2 bad input, 3 cancelled,
4 Temporal unreachable. Approval steps are asked on the terminal when there is one;
otherwise approve from another terminal with 'ferry approve RUN'.

Examples:
  ferry run runbooks/approval-demo.yaml
  ferry run --set pause=10s --id demo-1 --detach runbooks/approval-demo.yaml`,
		Flags: append(append(paramFlags(), watchFlags()...),
			&cli.StringFlag{Name: "id", Usage: "run id (workflow id); default <runbook>-<time>"},
			&cli.IntFlag{Name: "history-limit", Hidden: true, Usage: "continue-as-new after this many history events"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("run: name one runbook file", exitInvalid)
			}
			plan, err := loadPlan(c, c.Args().First())
			if err != nil {
				return err
			}
			if err := checkRunID(c.String("id")); err != nil {
				return err
			}
			s, err := connect(c, false)
			if err != nil {
				return err
			}
			defer s.Close()
			id := c.String("id")
			if id == "" {
				id = plan.Runbook + "-" + time.Now().UTC().Format("20060102-150405")
			}
			if err := startRun(c.Context, s, id, workflows.Input{Plan: plan, HistoryLimit: c.Int("history-limit")}); err != nil {
				return err
			}
			fmt.Printf("started run %s (runbook %s)\n", id, plan.Runbook)
			if link := s.runLink(c.String("namespace"), id); link != "" {
				fmt.Printf("web UI: %s\n", link)
			}
			if !s.hostsWorker() {
				if why := noWorker(c.Context, s.client); why != "" {
					fmt.Fprintln(os.Stderr, "note: "+why)
				}
			}
			if c.Bool("detach") {
				if s.hostsWorker() {
					fmt.Println("note: this process hosted the embedded server; the run continues when a ferry process next runs (ferry resume " + id + ")")
				}
				return nil
			}
			return watch(c, s, id)
		},
	}
}

// noWorker is what to say when no worker polls Ferry's task queue (a ferry server --no-worker
// alone, or a Temporal cluster whose workers are down): runs wait and cannot answer queries
// until one does. It is "" when a worker polls, or when the server cannot tell.
func noWorker(ctx context.Context, cl client.Client) string {
	d, err := cl.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil || len(d.GetPollers()) > 0 {
		return ""
	}
	return fmt.Sprintf("no worker polls task queue %s: runs wait until one does (ferry worker --address HOST:PORT)", workflows.TaskQueue)
}

func startRun(ctx context.Context, s *session, id string, in workflows.Input) error {
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		Memo:                     map[string]any{workflows.MemoRunbook: in.Plan.Runbook, "file": in.Plan.File, "digest": in.Plan.Digest},
		StaticSummary:            "runbook " + in.Plan.Runbook,
		StaticDetails:            fmt.Sprintf("%s\n\n%s, sha256 %s", in.Plan.Description, in.Plan.File, in.Plan.Digest[:min(12, len(in.Plan.Digest))]),
	}
	var err error
	for _, sa := range searchAttributes(in.Plan.Runbook) {
		opts.TypedSearchAttributes = sa
		if _, err = s.client.ExecuteWorkflow(ctx, opts, workflows.RunbookWorkflowName, in); !unknownSearchAttribute(err) {
			break
		}
	}
	var invalid *serviceerror.InvalidArgument
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return cli.Exit(fmt.Sprintf("run %s already exists: choose another --id, or 'ferry resume %s'", id, id), exitInvalid)
	}
	if errors.As(err, &invalid) {
		return cli.Exit(fmt.Sprintf("start run: the server refused it: %s", invalid.Message), exitInvalid)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("start run: %v", err), exitUnreachable)
	}
	return nil
}

// maxRunID is the longest run id Ferry takes (Temporal's default limit is 1,000 bytes; an id
// is typed and read by people).
const maxRunID = 200

// checkRunID refuses a run id Temporal would refuse or a terminal would garble: too long,
// or holding spaces, control or invisible format characters.
func checkRunID(id string) error {
	if len(id) > maxRunID {
		return cli.Exit(fmt.Sprintf("--id is %d bytes; the most is %d", len(id), maxRunID), exitInvalid)
	}
	for i, r := range id {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return cli.Exit(fmt.Sprintf("--id %s: character %U at byte %d is not allowed (use letters, digits, '-', '_', '.')", printable(id), r, i), exitInvalid)
		}
	}
	return nil
}

// connected wraps a command that acts on one named thing (a run, a schedule): it reads the
// name, connects, and cleans up.
func connected(what, hint string, fn func(c *cli.Context, s *session, name string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 1 {
			return cli.Exit(fmt.Sprintf("%s: name one %s%s", c.Command.Name, what, hint), exitInvalid)
		}
		s, err := connect(c, false)
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(c, s, c.Args().First())
	}
}

// runAction wraps a command that acts on one run.
func runAction(fn func(c *cli.Context, s *session, id string) error) cli.ActionFunc {
	return connected("run", " (see ferry list)", fn)
}

func resumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue a paused or interrupted run and watch it",
		ArgsUsage: "RUN",
		Description: `Lifts a pause, and with the embedded server hosts a worker so a run interrupted by
Ctrl-C or kill -9 carries on from its last completed step.`,
		Flags: watchFlags(),
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			st, err := patientStatus(c.Context, s, id)
			if err != nil {
				return err
			}
			if st.Paused {
				if _, err := update(c.Context, s.client, id, workflows.UpdateResume); err != nil {
					return err
				}
				fmt.Printf("resumed run %s\n", id)
			}
			if c.Bool("detach") {
				return nil
			}
			return watch(c, s, id)
		}),
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a run's steps: state, times, attempts, last error, progress",
		ArgsUsage: "RUN",
		Flags:     []cli.Flag{outputFlag()},
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			st, pend, err := fetchStatus(c.Context, s.client, id)
			if err != nil {
				return err
			}
			if c.String("output") == "json" {
				return printJSON(map[string]any{"status": st, "activities": pend})
			}
			fmt.Print(render(st, pend, time.Now()))
			if link := s.runLink(c.String("namespace"), id); link != "" {
				fmt.Printf("web UI: %s\n", link)
			}
			return nil
		}),
	}
}

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "follow a run's progress live until it ends",
		ArgsUsage: "RUN",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "auto-approve", Usage: "approve every approval step as it comes"}},
		Action: runAction(func(c *cli.Context, s *session, id string) error {
			return watch(c, s, id)
		}),
	}
}

// activityInfo is what the server knows of a step's running activity.
type activityInfo struct {
	Step          string         `json:"step"`
	Attempt       int32          `json:"attempt"`
	State         string         `json:"state"`
	LastHeartbeat time.Time      `json:"lastHeartbeat,omitzero"`
	Progress      map[string]any `json:"progress,omitempty"`
	LastFailure   string         `json:"lastFailure,omitempty"`
}

// statusPatience is how long one status query waits for the run's worker to answer.
const statusPatience = 15 * time.Second

// fetchStatus asks the server how the run's execution stands, then the run for its status,
// and the server for its running activities (their heartbeat details are the steps'
// progress). The execution status comes first: a run terminated from outside or timed out
// cannot say so itself, and its last state would read as alive. A run that finished on its
// own answers from the server's record (closeEvent): no worker need be up, and reports over
// many drills replay none of them.
func fetchStatus(ctx context.Context, cl client.Client, id string) (*workflows.Status, map[string]*activityInfo, error) {
	qctx, cancel := context.WithTimeout(ctx, statusPatience)
	defer cancel()
	desc, err := cl.DescribeWorkflowExecution(qctx, id, "")
	if err != nil {
		var nf *serviceerror.NotFound
		var bad *serviceerror.InvalidArgument
		if errors.As(err, &nf) || errors.As(err, &bad) {
			return nil, nil, cli.Exit(fmt.Sprintf("no run %q (see ferry list)", id), exitInvalid)
		}
		return nil, nil, cli.Exit(fmt.Sprintf("status of %s: %v", id, err), exitUnreachable)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		if st := closeEvent(qctx, cl, info); st != nil {
			return st, map[string]*activityInfo{}, nil
		}
	}
	var st workflows.Status
	v, qerr := cl.QueryWorkflow(qctx, id, "", workflows.QueryStatus)
	if qerr == nil {
		qerr = v.Get(&st)
	}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		ended(ctx, cl, id, info, &st)
		return &st, map[string]*activityInfo{}, nil
	}
	if qerr != nil {
		msg := fmt.Sprintf("status of %s: %v", id, qerr)
		if gaveUp(qctx, qerr) && ctx.Err() == nil {
			msg = fmt.Sprintf("status of %s: no worker answered in time (%v)", id, qerr)
		}
		if why := noWorker(ctx, cl); why != "" {
			msg += "; " + why
		}
		if last := lastRecorded(desc); last != "" {
			msg += "; " + last
		}
		return nil, nil, cli.Exit(msg, exitUnreachable)
	}
	pend := map[string]*activityInfo{}
	for _, pa := range desc.GetPendingActivities() {
		ai := pending(pa)
		pend[ai.Step] = ai
	}
	// A running mirror is a child workflow: its copy's heartbeat is the mirror step's progress.
	for _, ss := range st.Steps {
		child, _ := ss.Outputs["workflow"].(string)
		if ss.Uses != runbook.StepMirrorStart || child == "" || pend[ss.ID] != nil {
			continue
		}
		if d, err := cl.DescribeWorkflowExecution(qctx, child, ""); err == nil {
			var shards []*activityInfo
			for _, pa := range d.GetPendingActivities() {
				shards = append(shards, pending(pa))
			}
			if ai := mergeShards(shards); ai != nil {
				ai.Step = ss.ID
				pend[ss.ID] = ai
			}
		}
	}
	return &st, pend, nil
}

// gaveUp says a query ended unanswered: our wait ran out, or the server stopped waiting for
// a worker (it cuts a query off before the caller's deadline, as a cancelled stream).
func gaveUp(qctx context.Context, err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var cancelled *serviceerror.Canceled
	return qctx.Err() != nil || errors.As(err, &deadline) || errors.As(err, &cancelled)
}

// lastRecorded says where the server last saw a run that does not answer itself: the phase
// and steps it last set (FerryPhase, FerryStep) and its steps' activities in flight.
func lastRecorded(desc *workflowservice.DescribeWorkflowExecutionResponse) string {
	dc := converter.GetDefaultDataConverter()
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	var phase, steps string
	if p := fields[workflows.SearchAttributePhase]; p != nil {
		_ = dc.FromPayload(p, &phase)
	}
	if p := fields[workflows.SearchAttributeStep]; p != nil {
		_ = dc.FromPayload(p, &steps)
	}
	var parts []string
	if phase != "" {
		at := "the server last recorded it " + phase
		if steps != "" {
			at += " at " + printable(steps)
		}
		parts = append(parts, at)
	}
	for _, pa := range desc.GetPendingActivities() {
		ai := pending(pa)
		line := fmt.Sprintf("step %s %s, attempt %d", printable(ai.Step), ai.State, ai.Attempt)
		if !ai.LastHeartbeat.IsZero() {
			line += fmt.Sprintf(", last heartbeat %s ago", time.Since(ai.LastHeartbeat).Round(time.Second))
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ")
}

// mergeShards makes one progress of a mirror's copy activities (one per shard): records,
// bytes, partitions, lag and rate add up, the partitions behind are pooled, and the state,
// attempt and heartbeat are the laggard's (a shard restarting shows). Nil for none.
func mergeShards(shards []*activityInfo) *activityInfo {
	if len(shards) <= 1 {
		if len(shards) == 1 {
			return shards[0]
		}
		return nil
	}
	out := &activityInfo{State: shards[0].State, Progress: map[string]any{"shards": len(shards)}}
	var behind []any
	for _, sh := range shards {
		if sh.Attempt > out.Attempt {
			out.Attempt, out.State = sh.Attempt, sh.State
		}
		if out.LastHeartbeat.IsZero() || (!sh.LastHeartbeat.IsZero() && sh.LastHeartbeat.Before(out.LastHeartbeat)) {
			out.LastHeartbeat = sh.LastHeartbeat
		}
		if sh.LastFailure != "" {
			out.LastFailure = sh.LastFailure
		}
		for k, v := range sh.Progress {
			switch k {
			case "records", "bytes", "partitions", "lag", "rate":
				n, _ := v.(float64)
				sum, _ := out.Progress[k].(float64)
				out.Progress[k] = sum + n
			case "behind":
				list, _ := v.([]any)
				behind = append(behind, list...)
			default:
				if _, ok := out.Progress[k]; !ok {
					out.Progress[k] = v // the same for every shard, or shard 0's (group sync)
				}
			}
		}
	}
	if len(behind) > 0 {
		out.Progress["behind"] = behind
	}
	return out
}

// ended fills in a run that Temporal ended from outside: terminated (by whom and why, as its
// history records) or timed out. Steps still running then did not finish; no rollback ran.
func ended(ctx context.Context, cl client.Client, id string, info *workflowpb.WorkflowExecutionInfo, st *workflows.Status) {
	if st.RunID == "" {
		st.RunID, st.StartedAt = id, info.GetStartTime().AsTime()
	}
	st.EndedAt = info.GetCloseTime().AsTime()
	st.Waiting, st.Paused = nil, false
	st.Phase = workflows.PhaseTimedOut
	st.Error = "the run passed its execution timeout; no rollback ran"
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		st.Phase = workflows.PhaseTerminated
		st.Error = "terminated; no rollback ran"
		it := cl.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				break
			}
			if a := e.GetWorkflowExecutionTerminatedEventAttributes(); a != nil {
				st.Error = fmt.Sprintf("terminated by %s: %s; no rollback ran", orUnknown(a.GetIdentity()), orUnknown(a.GetReason()))
			}
		}
	}
	for _, ss := range st.Steps {
		if !ss.Status.Done() && ss.Status != workflows.StepPending {
			ss.Status = workflows.StepCancelled
			ss.EndedAt = &st.EndedAt
		}
	}
}

// closeEvent reads a finished run's status from the server's record of its end, which no
// worker need replay. A run returns its status when it succeeds and carries it in its error
// when it fails or is cancelled; nil for a run recorded before it did, or ended from outside.
func closeEvent(ctx context.Context, cl client.Client, info *workflowpb.WorkflowExecutionInfo) *workflows.Status {
	ex := info.GetExecution()
	it := cl.GetWorkflowHistory(ctx, ex.GetWorkflowId(), ex.GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil
		}
		var carried []*commonpb.Payload
		if a := e.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			carried = a.GetResult().GetPayloads()
		} else if a := e.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			carried = a.GetFailure().GetApplicationFailureInfo().GetDetails().GetPayloads()
		} else if a := e.GetWorkflowExecutionCanceledEventAttributes(); a != nil {
			carried = a.GetDetails().GetPayloads() // the message, then the status
			carried = carried[min(1, len(carried)):]
		}
		var st workflows.Status
		if len(carried) == 1 && converter.GetDefaultDataConverter().FromPayload(carried[0], &st) == nil && st.RunID != "" {
			return &st
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}

// pending reads what the server knows of a running activity; its heartbeat details are the
// step's progress.
func pending(pa *workflowpb.PendingActivityInfo) *activityInfo {
	step, _, _ := strings.Cut(pa.GetActivityId(), "#")
	ai := &activityInfo{Step: step, Attempt: pa.GetAttempt(), State: strings.ToLower(strings.TrimPrefix(pa.GetState().String(), "PENDING_ACTIVITY_STATE_"))}
	if t := pa.GetLastHeartbeatTime(); t != nil {
		ai.LastHeartbeat = t.AsTime()
	}
	if f := pa.GetLastFailure(); f != nil {
		ai.LastFailure = f.GetMessage()
	}
	if d := pa.GetHeartbeatDetails(); d != nil && len(d.Payloads) > 0 {
		var m map[string]any
		if converter.GetDefaultDataConverter().FromPayload(d.Payloads[len(d.Payloads)-1], &m) == nil {
			ai.Progress = m
		}
	}
	return ai
}

func update(ctx context.Context, cl client.Client, id, name string, args ...any) (any, error) {
	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := cl.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: args, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return nil, updateError(id, name, err)
	}
	var out any
	if err := h.Get(uctx, &out); err != nil {
		return nil, updateError(id, name, err)
	}
	return out, nil
}

func updateError(id, name string, err error) error {
	var nf *serviceerror.NotFound
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &nf):
		return cli.Exit(fmt.Sprintf("no running run %q", id), exitInvalid)
	case errors.As(err, &app):
		return cli.Exit(fmt.Sprintf("%s %s: %s", name, id, app.Error()), exitInvalid)
	case errors.Is(err, context.DeadlineExceeded):
		return cli.Exit(fmt.Sprintf("%s %s: no answer in 30s: is a ferry worker running for this namespace?", name, id), exitUnreachable)
	}
	return cli.Exit(fmt.Sprintf("%s %s: %v", name, id, err), exitUnreachable)
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// watchPatience is how long watch keeps asking a run that does not answer its status.
const watchPatience = 2 * time.Minute

// patientStatus asks for a run's status until it answers, for up to watchPatience.
func patientStatus(ctx context.Context, s *session, id string) (*workflows.Status, error) {
	p := patience{id: id, doing: "asking"}
	for {
		st, _, err := fetchStatus(ctx, s.client, id)
		if !p.again(ctx, err) {
			return st, err
		}
	}
}

// patience keeps asking for a run's status that does not answer, for up to watchPatience.
// Right after a kill -9 the first queries fail while the run's worker comes back: the server
// tries the dead worker first, and a query the new worker answers by replaying history can
// fail while that history grows (temporalio/sdk-go#755); the next query answers.
type patience struct {
	id, doing string
	failing   time.Time // since when status has not answered
}

// again reports whether to ask again after err, having waited a second; it says so the first
// time. Any other error, a cancelled ctx or patience run out: no.
func (p *patience) again(ctx context.Context, err error) bool {
	if err == nil {
		p.failing = time.Time{}
		return false
	}
	if ctx.Err() != nil || !unreachable(err) || (!p.failing.IsZero() && time.Since(p.failing) > watchPatience) {
		return false
	}
	if p.failing.IsZero() {
		p.failing = time.Now()
		fmt.Printf("status of %s does not answer yet; still %s (%v)\n", p.id, p.doing, err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	return true
}

// unreachable reports an error Ferry exits 4 for: Temporal, or the run's status, not answering.
func unreachable(err error) bool {
	var ec cli.ExitCoder
	return errors.As(err, &ec) && ec.ExitCode() == exitUnreachable
}

// watch follows a run to its end. On a terminal it redraws in place and asks for approvals;
// otherwise it prints one line per change.
func watch(c *cli.Context, s *session, id string) error {
	tty := term.IsTerminal(int(os.Stdout.Fd()))
	interactive := tty && term.IsTerminal(int(os.Stdin.Fd()))
	asked := map[string]bool{}
	last := map[string]workflows.StepStatus{}
	lines := 0
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	p := patience{id: id, doing: "watching"}
	for {
		st, pend, err := fetchStatus(c.Context, s.client, id)
		if err != nil && c.Context.Err() == nil && s.rehost(c) {
			fmt.Println("the ferry process that hosted the embedded server has ended; this one hosts it now")
			lines = 0
			continue
		}
		if p.again(c.Context, err) {
			continue
		}
		if err != nil {
			return err
		}
		if tty {
			out := render(st, pend, time.Now())
			if lines > 0 {
				fmt.Printf("\x1b[%dA\x1b[J", lines)
			}
			fmt.Print(out)
			lines = strings.Count(out, "\n")
		} else {
			printChanges(st, last)
		}
		if st.Phase.Terminal() {
			return exitFor(st)
		}
		for _, step := range st.Waiting {
			if asked[step] {
				continue
			}
			asked[step] = true
			switch {
			case c.Bool("auto-approve"):
				if _, err := update(c.Context, s.client, id, workflows.UpdateApprove, workflows.Approval{Step: step, By: "auto-approve", Comment: "--auto-approve"}); err != nil {
					return err
				}
				lines = 0
				fmt.Printf("approved %s (--auto-approve)\n", step)
			case interactive:
				if err := ask(c, s, id, st, step); err != nil {
					return err
				}
				lines = 0
			default:
				fmt.Printf("waiting for approval of %s: ferry approve --step %s %s\n", step, step, id)
			}
		}
		select {
		case <-c.Context.Done():
			fmt.Printf("\nstopped watching; the run goes on (ferry watch %s)\n", id)
			if s.hostsWorker() {
				fmt.Printf("this process hosted the embedded server: the run is parked until a ferry process runs again (ferry resume %s)\n", id)
			}
			return cli.Exit("", 130)
		case <-tick.C:
		}
	}
}

func ask(c *cli.Context, s *session, id string, st *workflows.Status, step string) error {
	msg := ""
	for _, ss := range st.Steps {
		if ss.ID == step {
			msg = ss.Message
		}
	}
	fmt.Printf("\n%s\napprove step %s? [y = approve, n = reject, Enter = decide later] ", msg, step)
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		_, err := update(c.Context, s.client, id, workflows.UpdateApprove, workflows.Approval{Step: step, By: currentUser()})
		return err
	case "n", "no":
		_, err := update(c.Context, s.client, id, workflows.UpdateApprove, workflows.Approval{Step: step, By: currentUser(), Reject: true, Comment: "rejected at the terminal"})
		return err
	}
	fmt.Printf("later: ferry approve --step %s %s\n", step, id)
	return nil
}

func printChanges(st *workflows.Status, last map[string]workflows.StepStatus) {
	for _, ss := range st.Steps {
		if last[ss.ID] == ss.Status {
			continue
		}
		last[ss.ID] = ss.Status
		if ss.Status == workflows.StepPending {
			continue
		}
		line := fmt.Sprintf("%s  %-9s %s", time.Now().Format("15:04:05"), ss.Status, ss.ID)
		if ss.Message != "" {
			line += ": " + ss.Message
		}
		if ss.LastError != "" {
			line += " (" + ss.LastError + ")"
		}
		fmt.Println(line)
	}
	if st.Phase.Terminal() {
		fmt.Printf("run %s %s", st.RunID, st.Phase)
		if st.Error != "" {
			fmt.Printf(": %s", st.Error)
		}
		fmt.Println()
	}
}

// exitFor is a finished run's exit code. Its error was shown with its status already, so
// it is not printed again.
func exitFor(st *workflows.Status) error {
	switch st.Phase {
	case workflows.PhaseSucceeded:
		return nil
	case workflows.PhaseCancelled, workflows.PhaseTerminated:
		return cli.Exit("", exitCancelled)
	}
	return cli.Exit("", exitFailed)
}

// searchAttributes are what a run starts with, best first: runbook and phase (the run then
// keeps phase and step current), the runbook alone (an external cluster where an older Ferry
// registered only that), none (the memo still names the runbook).
func searchAttributes(runbook string) []temporal.SearchAttributes {
	rb := temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttributeRunbook).ValueSet(runbook)
	phase := temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttributePhase).ValueSet(string(workflows.PhaseRunning))
	return []temporal.SearchAttributes{temporal.NewSearchAttributes(rb, phase), temporal.NewSearchAttributes(rb), {}}
}

// unknownSearchAttribute says the server refused a start for a search attribute it lacks.
func unknownSearchAttribute(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid) && slices.ContainsFunc(workflows.SearchAttributes, func(a string) bool {
		return strings.Contains(invalid.Message, a)
	})
}
