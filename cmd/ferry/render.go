package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/workflows"
)

var statusMark = map[workflows.StepStatus]string{
	workflows.StepPending:   "·",
	workflows.StepRunning:   "▸",
	workflows.StepRetrying:  "↻",
	workflows.StepWaiting:   "?",
	workflows.StepSucceeded: "✓",
	workflows.StepFailed:    "✗",
	workflows.StepSkipped:   "-",
	workflows.StepCancelled: "⊘",
}

// render draws a run's status as text: one line per step, progress from heartbeats.
func render(st *workflows.Status, pend map[string]*activityInfo, now time.Time) string {
	var b strings.Builder
	end := now
	if !st.EndedAt.IsZero() {
		end = st.EndedAt
	}
	fmt.Fprintf(&b, "run %s  runbook %s  %s  %s\n", st.RunID, st.Runbook, strings.ToUpper(string(st.Phase)), end.Sub(st.StartedAt).Round(time.Second))
	header := map[string]bool{} // rollback: and on failure:, once each, when their steps ran
	for _, ss := range st.Steps {
		if ss.Rollback || ss.OnFailure {
			if ss.Status == workflows.StepPending {
				continue
			}
			name := "rollback"
			if ss.OnFailure {
				name = "on failure"
			}
			if !header[name] {
				b.WriteString("  " + name + ":\n")
				header[name] = true
			}
		}
		ind := strings.Repeat("  ", ss.Depth+1)
		fmt.Fprintf(&b, "%s%s %-*s %-10s %-10s", ind, statusMark[ss.Status], 24-2*ss.Depth, ss.ID, ss.Uses, ss.Status)
		if ss.StartedAt != nil {
			e := now
			if ss.EndedAt != nil {
				e = *ss.EndedAt
			}
			fmt.Fprintf(&b, " %7s", e.Sub(*ss.StartedAt).Round(100*time.Millisecond))
		}
		if ss.Attempts > 1 {
			fmt.Fprintf(&b, "  attempt %d", ss.Attempts)
		}
		if a := pend[ss.ID]; a != nil && len(a.Progress) > 0 {
			b.WriteString("  " + progressText(a.Progress))
			if s, ok := a.Progress["stalled"].(map[string]any); ok {
				b.WriteString("\n" + ind + "    " + stalledText(s, now))
			}
		}
		if a := pend[ss.ID]; a != nil && a.LastFailure != "" && ss.Status == workflows.StepSucceeded {
			// A running mirror whose copy failed and is being restarted.
			fmt.Fprintf(&b, "\n%s    restarting (attempt %d) since %s: %s", ind, a.Attempt, since(a.LastHeartbeat, now), a.LastFailure)
		}
		if ss.Status == workflows.StepSucceeded && pend[ss.ID] == nil && ss.Uses != "log" {
			if o := outputsText(ss.Outputs); o != "" {
				fmt.Fprintf(&b, "\n%s    %s", ind, o)
			}
		}
		switch {
		case ss.Status == workflows.StepWaiting:
			fmt.Fprintf(&b, "  %q → ferry approve --step %s %s", ss.Message, ss.ID, st.RunID)
		case ss.Message != "" && ss.Uses == "log":
			fmt.Fprintf(&b, "  %s", ss.Message)
		}
		switch {
		case ss.Status == workflows.StepRetrying && ss.RetryingSince != nil:
			fmt.Fprintf(&b, "\n%s    retrying since %s: %s", ind, since(*ss.RetryingSince, now), ss.LastError)
		case ss.LastError != "" && ss.Status != workflows.StepSucceeded:
			fmt.Fprintf(&b, "\n%s    last error: %s", ind, ss.LastError)
		}
		b.WriteString("\n")
	}
	if st.Paused {
		fmt.Fprintf(&b, "paused: the next step waits for 'ferry resume %s'\n", st.RunID)
	}
	if st.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", st.Error)
	}
	return b.String()
}

// progressText shows heartbeat details: a bar when they hold done and total, else key=value.
func progressText(p map[string]any) string {
	done, ok1 := p["done"].(float64)
	total, ok2 := p["total"].(float64)
	var parts []string
	if ok1 && ok2 && total > 0 {
		frac := min(done/total, 1)
		n := int(frac * 20)
		parts = append(parts, fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("█", n), strings.Repeat("░", 20-n), frac*100))
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "done" && k != "total" && k != "stalled" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+humanValue(k, p[k]))
	}
	return strings.Join(parts, " ")
}

// outputsText shows a finished step's outputs on one line, each reduced to what a person
// reads at a glance: numbers and short words as they are, short lists in full, anything
// longer counted (status -o json has every value).
func outputsText(out map[string]any) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if v := glance(k, out[k]); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

func glance(key string, v any) string {
	const short = 48
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		if v == "" {
			return ""
		}
		if len(v) > short || strings.Contains(v, "\n") {
			return fmt.Sprintf("(%d lines)", strings.Count(strings.TrimRight(v, "\n"), "\n")+1)
		}
		return printable(v)
	case []any:
		words := make([]string, 0, len(v))
		for _, e := range v {
			words = append(words, glance(key, e))
		}
		if s := strings.Join(words, ","); len(v) <= 5 && len(s) <= short && !strings.ContainsAny(s, "()") {
			return "[" + s + "]"
		}
		return fmt.Sprintf("(%d)", len(v))
	case map[string]any:
		words := make([]string, 0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			words = append(words, printable(k)+":"+glance(k, v[k]))
		}
		if s := strings.Join(words, ","); len(v) <= 5 && len(s) <= short && !strings.ContainsAny(s, "(){}") {
			return "{" + s + "}"
		}
		return fmt.Sprintf("(%d)", len(v))
	}
	return humanValue(key, v)
}

// stalledText says since when a copy with records to copy has not moved, where, and why.
func stalledText(s map[string]any, now time.Time) string {
	at, _ := time.Parse(time.RFC3339, fmt.Sprint(s["since"]))
	msg := "stalled since " + since(at, now)
	if where, _ := s["at"].(string); where != "" {
		msg += " at " + where
	}
	msg += ", 0 records/s"
	if cause, _ := s["cause"].(string); cause != "" {
		msg += ": " + cause
	}
	return msg
}

// since says when something began, as a clock time and how long ago.
func since(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format("15:04:05"), now.Sub(t).Round(time.Second))
}

// humanValue prints a progress value for people: whole numbers as integers, bytes in units.
func humanValue(key string, v any) string {
	f, ok := v.(float64)
	switch {
	case !ok:
		return fmt.Sprint(v)
	case key == "bytes":
		return humanBytes(f)
	case key == "rate":
		return fmt.Sprintf("%.0f/s", f)
	case f == float64(int64(f)):
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func humanBytes(n float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", n, units[i])
	}
	return fmt.Sprintf("%.3g%s", n, units[i])
}
