package report

import (
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"when":     when,
	"clock":    clock,
	"took":     took,
	"dur":      dur,
	"timeline": func(r *Report) template.HTML { return timeline(r) },
	"lagChart": func(r *Report) template.HTML {
		return lineChart("lag-chart", "records not yet copied", r.Lag, func(v int64) string { return fmt.Sprint(v) })
	},
	"rpoChart": func(r *Report) template.HTML { return rpoChart(r.History) },
}).Parse(htmlSource))

// HTML writes the report as one self-contained page: inline CSS and SVG, no script, nothing
// fetched, so it can be attached to a ticket and opened years later.
func (r *Report) HTML(w io.Writer) error { return page.Execute(w, r) }

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// clock is a time of day in UTC, for tables under a heading that gives the date.
func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05.000")
}

// took is a duration as people read it: 1.2s, 3m05s, 2h10m.
func took(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

var statusColour = map[string]string{
	"succeeded": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "retrying": "#ef6c00",
	"waiting": "#f9a825", "skipped": "#9e9e9e", "cancelled": "#616161",
}

// timeline draws each step that ran as a bar across the run's span.
func timeline(r *Report) template.HTML {
	from, to := r.Started, r.Ended
	for _, s := range r.Steps {
		if from.IsZero() || (!s.Started.IsZero() && s.Started.Before(from)) {
			from = s.Started
		}
		to = later(to, s.Ended)
	}
	if to.IsZero() || !to.After(from) {
		to = later(r.Generated, from.Add(time.Second))
	}
	const label, width, row = 260, 960, 22
	span := to.Sub(from)
	var b strings.Builder
	var rows int
	for _, s := range r.Steps {
		if s.Started.IsZero() {
			continue
		}
		end := s.Ended
		if end.IsZero() {
			end = to
		}
		y := rows*row + 4
		x := label + int(float64(width-label-90)*float64(s.Started.Sub(from))/float64(span))
		w := max(2, int(float64(width-label-90)*float64(end.Sub(s.Started))/float64(span)))
		name := strings.Repeat("  ", s.Depth) + s.ID
		if s.Uses != "" {
			name += " · " + s.Uses
		}
		fmt.Fprintf(&b, `<g class="step %s"><title>%s: %s, %s</title><text x="4" y="%d">%s</text>`+
			`<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="%s"/><text x="%d" y="%d" class="took">%s</text></g>`,
			html.EscapeString(s.Status), html.EscapeString(s.ID), html.EscapeString(s.Status), took(s.Duration),
			y+13, html.EscapeString(name), x, y, w, row-6, statusColour[s.Status], x+w+4, y+13, took(s.Duration))
		rows++
	}
	return template.HTML(fmt.Sprintf(`<svg id="timeline" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="steps on a timeline">%s</svg>`,
		width, rows*row+8, width, rows*row+8, b.String()))
}

// lineChart draws points as a line over time, with the largest value and both ends marked.
func lineChart(id, what string, pts []Point, value func(int64) string) template.HTML {
	if len(pts) == 0 {
		return ""
	}
	const width, height, left, bottom = 960, 240, 80, 28
	from, to := pts[0].At, pts[len(pts)-1].At
	if !to.After(from) {
		to = from.Add(time.Second)
	}
	var top int64 = 1
	for _, p := range pts {
		top = max(top, p.Value)
	}
	xy := func(p Point) (float64, float64) {
		x := left + float64(width-left-10)*float64(p.At.Sub(from))/float64(to.Sub(from))
		y := 10 + float64(height-bottom-10)*(1-float64(p.Value)/float64(top))
		return x, y
	}
	var line strings.Builder
	for _, p := range pts {
		x, y := xy(p)
		fmt.Fprintf(&line, "%.1f,%.1f ", x, y)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s over time">`, id, width, height, width, height, html.EscapeString(what))
	fmt.Fprintf(&b, `<line x1="%d" y1="10" x2="%d" y2="%d" class="axis"/><line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`,
		left, left, height-bottom, left, height-bottom, width-10, height-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="18" text-anchor="end">%s</text><text x="%d" y="%d" text-anchor="end">0</text>`, left-6, value(top), left-6, height-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text><text x="%d" y="%d" text-anchor="end">%s</text>`,
		left, height-8, when(from), width-10, height-8, when(pts[len(pts)-1].At))
	fmt.Fprintf(&b, `<polyline points="%s" class="series"/>`, strings.TrimSpace(line.String()))
	for _, p := range pts {
		x, y := xy(p)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" class="point"><title>%s: %s %s</title></circle>`, x, y, when(p.At), value(p.Value), html.EscapeString(what))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// rpoChart draws each scheduled run's worst measured RPO.
func rpoChart(runs []DrillRun) template.HTML {
	var pts []Point
	for _, r := range runs {
		if rpo, ok := r.RPO(); ok {
			pts = append(pts, Point{At: r.Started, Value: rpo.Milliseconds()})
		}
	}
	return lineChart("rpo-chart", "RPO", pts, func(ms int64) string { return took(time.Duration(ms) * time.Millisecond) })
}

// dur is took, with 0 shown as 0s (an RPO of nothing is a finding).
func dur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return took(d)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
