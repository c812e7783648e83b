package activities

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) standbySteps() map[string]Step {
	return map[string]Step{runbook.StepStandbyWatch: a.standbyWatch, runbook.StepMirrorReverse: a.mirrorReverse, runbook.StepMirrorFailback: a.mirrorFailback}
}

// maxIncidentLog bounds the incident lines a watch returns: its outputs live in history.
const maxIncidentLog = 50

// watchState is what a watch carries across attempts in its heartbeat: a worker lost during
// an incident must not alert it again.
type watchState struct {
	Checks    int       `json:"checks"`
	Incidents int       `json:"incidents"`
	Alerts    int       `json:"alerts"`
	Open      string    `json:"incident,omitempty"` // what is wrong now; "" when all is well
	Since     time.Time `json:"since,omitzero"`     // when the open incident began
	Status    string    `json:"status,omitempty"`   // the last check, in a few words
	// Breached is when checks began to breach while no incident is open: the next one opens it.
	Breached time.Time `json:"breached,omitzero"`
	// Started is when the watch first checked: a flow's first heartbeat may take until
	// maxHeartbeatAge after it (a watch that begins with its mirror must not page at once).
	Started time.Time `json:"started,omitzero"`
	log     []string
}

// standbyWatch checks the standby every interval until stopped (or for p.For), alerting when
// two checks in a row breach a limit and again when all pass, once per incident. Stopped, it returns
// what it saw: the step succeeds with its incident log.
func (a *Activities) standbyWatch(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.StandbyWatchParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	interval := cmp.Or(p.Interval.D(), runbook.DefaultWatchInterval)
	maxAge := cmp.Or(p.MaxHeartbeatAge.D(), runbook.DefaultMaxHeartbeatAge)
	maxRPO := cmp.Or(p.MaxRPO.D(), runbook.DefaultWatchMaxRPO)
	var w watchState
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &w)
	}
	var end <-chan time.Time
	if p.For > 0 {
		end = time.After(p.For.D())
	}
	for {
		now := a.now()
		if w.Started.IsZero() {
			w.Started = now
		}
		breaches, status := a.checkStandby(ctx, in, p, maxAge, maxRPO, now, w.Started)
		if ctx.Err() != nil {
			break // stopped mid-check: what it found is not a finding
		}
		w.Checks++
		w.Status = status
		if text := w.judge(fmt.Sprintf("%s → %s (run %s)", in.Replication.Origin, in.Replication.Target, in.RunID), breaches, now); text != "" {
			a.alert(ctx, in, p, &w, text)
		}
		progress(ctx, w.details())
		select {
		case <-ctx.Done():
		case <-end:
		case <-time.After(interval):
			continue
		}
		break
	}
	if w.Open != "" {
		w.log = append(w.log, fmt.Sprintf("%s: %s (still open, %s so far)", w.Since.UTC().Format(time.RFC3339), w.Open, a.now().Sub(w.Since).Round(time.Second)))
	}
	return result(map[string]any{"checks": w.Checks, "incidents": w.Incidents, "alerts": w.Alerts, "log": list(w.log[max(len(w.log)-maxIncidentLog, 0):])})
}

// judge opens an incident when a second check in a row breaches a limit and closes it when all
// checks pass, and returns what to alert then ("" for nothing). One failing check alone is a
// moment that may pass (a first copy finishing its last records): it pages nobody. flow names
// the standby and its run in the alert.
func (w *watchState) judge(flow string, breaches []string, now time.Time) string {
	switch {
	case len(breaches) > 0 && w.Open == "" && w.Breached.IsZero():
		w.Breached = now
	case len(breaches) > 0 && w.Open == "":
		w.Open, w.Since, w.Breached = strings.Join(breaches, "; "), w.Breached, time.Time{}
		w.Incidents++
		return fmt.Sprintf("ALERT standby %s: %s", flow, w.Open)
	case len(breaches) > 0:
		w.Open = strings.Join(breaches, "; ") // still open: say what is wrong now, alert no more
	case w.Open != "":
		lasted := now.Sub(w.Since).Round(time.Second)
		w.log = append(w.log, fmt.Sprintf("%s: %s (recovered after %s)", w.Since.UTC().Format(time.RFC3339), w.Open, lasted))
		w.Open, w.Since = "", time.Time{}
		return fmt.Sprintf("RECOVERED standby %s after %s: %s", flow, lasted, w.Status)
	default:
		w.Breached = time.Time{}
	}
	return ""
}

// alert posts text to the webhook, or logs it without one. A webhook that fails is logged and
// left: the watch goes on, and the incident stays in status and outputs.
func (a *Activities) alert(ctx context.Context, in runbook.StepInput, p runbook.StandbyWatchParams, w *watchState, text string) {
	log := activity.GetLogger(ctx)
	if p.Webhook == nil {
		log.Warn(text)
		return
	}
	if err := a.post(ctx, in, p.Webhook, text); err != nil {
		log.Error("standby alert not delivered", "error", err)
		return
	}
	w.Alerts++
}

// checkStandby measures the standby once and returns what breaches a limit, and a summary.
// No heartbeat of the flow at all breaches once the watch is maxAge old, as a stale one does.
func (a *Activities) checkStandby(ctx context.Context, in runbook.StepInput, p runbook.StandbyWatchParams, maxAge, maxRPO time.Duration, now, started time.Time) ([]string, string) {
	cctx, cancel := context.WithTimeout(ctx, max(2*cmp.Or(p.Interval.D(), runbook.DefaultWatchInterval), time.Minute))
	defer cancel()
	f, closeFn, err := a.openFlow(cctx, in)
	if err != nil {
		return []string{"cannot reach the clusters: " + err.Error()}, "unreachable"
	}
	defer closeFn()
	var breaches []string
	age, found, err := f.HeartbeatAge(cctx, now)
	switch {
	case p.Heartbeats != nil && !*p.Heartbeats:
		found, age = false, -1
	case err != nil:
		breaches = append(breaches, "heartbeats unreadable: "+err.Error())
	case !found && now.Sub(started) >= maxAge:
		breaches = append(breaches, fmt.Sprintf("no heartbeat of this flow on %s in %s", in.Replication.Target, maxAge))
	case age > maxAge:
		breaches = append(breaches, fmt.Sprintf("heartbeat %s old (max %s): the mirror is not copying", age.Round(100*time.Millisecond), maxAge))
	}
	d, err := f.MeasureStandby(cctx, p.Groups, now)
	if err != nil {
		return append(breaches, "standby unmeasurable: "+err.Error()), "unmeasurable"
	}
	if d.RPO > maxRPO {
		breaches = append(breaches, fmt.Sprintf("rpo %s (max %s)", d.RPO.Round(time.Second), maxRPO))
	}
	if p.MaxBehind != nil && (d.WorstBehind > *p.MaxBehind || d.Missing > 0) {
		breaches = append(breaches, fmt.Sprintf("a group is %d records behind (max %d), %d partitions without a position", d.WorstBehind, *p.MaxBehind, d.Missing))
	}
	return breaches, standbySummary(d, age, found)
}

func standbySummary(d *flow.Drill, age time.Duration, found bool) string {
	hb := "no heartbeat"
	switch {
	case age < 0:
		hb = "heartbeats not checked"
	case found:
		hb = "heartbeat " + age.Round(time.Second).String() + " ago"
	}
	return fmt.Sprintf("rpo %s, %d records not copied, %s, groups %d behind", d.RPO.Round(time.Millisecond), d.Lag, hb, d.Behind)
}

// details is the watch's heartbeat: what status shows, and what a next attempt resumes from.
func (w *watchState) details() map[string]any {
	d := map[string]any{"checks": w.Checks, "incidents": w.Incidents, "alerts": w.Alerts, "status": w.Status, "started": w.Started}
	if !w.Breached.IsZero() {
		d["breached"] = w.Breached
	}
	if w.Open != "" {
		d["incident"] = w.Open
		d["since"] = w.Since
	}
	return d
}

// mirrorReverse prepares the flow back to continue after what this flow copied.
func (a *Activities) mirrorReverse(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	f, closeFn, err := a.openFlow(ctx, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	r, err := f.Reverse(ctx)
	if err != nil {
		return runbook.StepResult{}, err
	}
	return result(map[string]any{"topic": r.Topic, "partitions": r.Partitions, "syncs": r.Syncs})
}
