package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// JSON writes the report's data.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Markdown writes the report for a wiki page or a change ticket: tables, and the lag as a
// sparkline.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	if r.Schedule != "" {
		fmt.Fprintf(&b, "# %s: schedule `%s`\n\n", r.Runbook, r.Schedule)
	} else {
		fmt.Fprintf(&b, "# %s: run `%s`\n\n", r.Runbook, r.Run)
	}
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Description)
	}
	if r.Schedule == "" {
		fmt.Fprintf(&b, "**%s** · started %s", r.Phase, when(r.Started))
		if !r.Ended.IsZero() {
			fmt.Fprintf(&b, " · ended %s · took %s", when(r.Ended), took(r.Ended.Sub(r.Started)))
		}
		b.WriteString("\n\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "Error: %s\n\n", cell(r.Error))
	}
	fmt.Fprintf(&b, "Generated %s by ferry report.", when(r.Generated))
	if r.Link != "" {
		fmt.Fprintf(&b, " [The run in the Temporal Web UI](%s).", r.Link)
	}
	b.WriteString("\n")
	if r.Schedule != "" {
		b.WriteString("\n## Drills of this schedule\n\n| Run | Started | Phase | RPO | RTO (read) | Behind | Verdict |\n|---|---|---|---:|---:|---:|---|\n")
		for _, run := range r.History {
			for _, d := range run.Drills {
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %d | %s |\n", run.Run, when(run.Started), run.Phase, dur(d.RPO), dur(d.RTO), d.Behind, verdict(d.Passed))
			}
			if len(run.Drills) == 0 {
				fmt.Fprintf(&b, "| `%s` | %s | %s | | | | no drill measured |\n", run.Run, when(run.Started), run.Phase)
			}
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("\n## Steps\n\n| Step | Type | Status | Started | Took | Note |\n|---|---|---|---|---:|---|\n")
	for _, s := range r.Steps {
		note := s.Note
		if s.Error != "" {
			note = strings.TrimSpace(note + " " + s.Error)
		}
		fmt.Fprintf(&b, "| %s`%s` | %s | %s | %s | %s | %s |\n", strings.Repeat("↳ ", s.Depth), s.ID, s.Uses, s.Status, when(s.Started), took(s.Duration), cell(note))
	}
	if p := r.Pause; p != nil {
		fmt.Fprintf(&b, "\n## Cutover pause\n\nThe apps were paused for **%s**: from the start of `%s` (%s) to the end of `%s` (%s).\n",
			took(p.Duration), p.Stopped, when(p.From), p.Resumed, when(p.To))
	}
	if len(r.Lag) > 0 {
		top := int64(0)
		for _, p := range r.Lag {
			top = max(top, p.Value)
		}
		fmt.Fprintf(&b, "\n## Mirror lag\n\n`%s` from %d records (peak) to %d, %s to %s.\n",
			sparkline(r.Lag), top, r.Lag[len(r.Lag)-1].Value, when(r.Lag[0].At), when(r.Lag[len(r.Lag)-1].At))
	}
	if len(r.Groups) > 0 {
		b.WriteString("\n## Consumer groups moved\n\n| Group | Topic | Partition | Origin offset | Target offset |\n|---|---|---:|---:|---:|\n")
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d |\n", g.Group, g.Topic, g.Partition, g.Origin, g.Target)
		}
	}
	if p := r.Parity; p != nil {
		if p.Equal {
			fmt.Fprintf(&b, "\n## Parity\n\nEqual: %d records in %d partitions (step `%s`).\n", p.Records, p.Partitions, p.Step)
		} else {
			fmt.Fprintf(&b, "\n## Parity\n\nNot equal (step `%s`): %s\n", p.Step, cell(p.Error))
		}
		if len(p.Rows) > 0 {
			b.WriteString("\n| Origin | Target | Records | Digest (SHA-256) | Equal |\n|---|---|---:|---|---|\n")
			for _, row := range p.Rows {
				fmt.Fprintf(&b, "| %s | %s | %d | `%s` | yes |\n", row.Origin, row.Target, row.Records, row.Digest)
			}
		}
	}
	if f := r.Failback; f != nil {
		fmt.Fprintf(&b, "\n## Failback\n\n%d records written since the failover to copy back (step `%s`); %d stranded on the old primary", f.ToCopy, f.Step, f.Stranded)
		switch {
		case f.Stranded == 0:
		case f.Kept > 0:
			fmt.Fprintf(&b, ", %d kept aside in %s", f.Kept, joinCode(f.KeptIn))
		default:
			b.WriteString(", dropped (left unread)")
		}
		b.WriteString(".\n")
		for _, p := range f.Partitions {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	if len(r.Drills) > 0 {
		b.WriteString("\n## Drills\n\n| Step | RPO | RTO (read) | Lag | Behind | Missing | Verdict |\n|---|---:|---:|---:|---:|---:|---|\n")
		for _, d := range r.Drills {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %d | %d | %s |\n", d.Step, dur(d.RPO), dur(d.RTO), d.Lag, d.Behind, d.Missing, verdict(d.Passed))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinCode(l []string) string {
	return "`" + strings.Join(l, "`, `") + "`"
}

func verdict(passed bool) string {
	if passed {
		return "passed"
	}
	return "failed"
}

// cell keeps a value on one table line.
func cell(s string) string {
	return strings.NewReplacer("\n", " ", "|", `\|`).Replace(s)
}

// sparkline draws up to 60 points, each the largest value of its stretch of time.
func sparkline(pts []Point) string {
	const width = 60
	bars := []rune("▁▂▃▄▅▆▇█")
	from, to := pts[0].At, pts[len(pts)-1].At
	span := max(to.Sub(from), time.Nanosecond)
	cols := make([]int64, width)
	seen := make([]bool, width)
	var top int64 = 1
	for _, p := range pts {
		i := min(width-1, int(float64(width)*float64(p.At.Sub(from))/float64(span)))
		cols[i], seen[i] = max(cols[i], p.Value), true
		top = max(top, p.Value)
	}
	var b strings.Builder
	for i, v := range cols {
		if !seen[i] {
			continue
		}
		b.WriteRune(bars[min(len(bars)-1, int(float64(len(bars)-1)*float64(v)/float64(top)+0.5))])
	}
	return b.String()
}
