// Package bench prints a benchmark's figures as a table, each beside its goal, so `go tool
// task bench` reads as the evidence the issues ask for rather than a list of metrics.
package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Row is one figure: what was measured, its value, and the goal it answers ("" for none).
type Row struct{ Figure, Value, Goal string }

// Print writes a titled table of rows, a goal column beside the values.
func Print(w io.Writer, title string, rows ...Row) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\n%s\n", title)
	fmt.Fprintln(tw, "figure\tvalue\tgoal\t")
	for _, r := range rows {
		goal := r.Goal
		if goal == "" {
			goal = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.Figure, r.Value, goal)
	}
	_ = tw.Flush()
}
