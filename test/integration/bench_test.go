package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/temporalserver"
	"github.com/ferryhq/ferry/internal/worker"
	"github.com/ferryhq/ferry/workflows"
)

// BenchmarkEmbeddedServerStart measures start to ready (frontend answering a health check)
// of the embedded server on a new SQLite file, then stops it.
func BenchmarkEmbeddedServerStart(b *testing.B) {
	for b.Loop() {
		srv, err := temporalserver.Start(temporalserver.Options{DatabaseFile: tempDB(b)})
		if err != nil {
			b.Fatal(err)
		}
		c, err := client.Dial(client.Options{HostPort: srv.Address(), Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.CheckHealth(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		c.Close()
		_ = srv.Stop()
	}
}

// BenchmarkRun50NoopSteps runs a 50-step runbook of noop activities end to end on the
// embedded server (target: under 2 s) and reports the per-step overhead: the time from one
// step's end to the next one's end, p50 and p99 over all iterations.
func BenchmarkRun50NoopSteps(b *testing.B) {
	b.Run("sqlite-file", func(b *testing.B) { run50(b, tempDB(b)) })
	b.Run("memory", func(b *testing.B) { run50(b, "") })
}

func run50(b *testing.B, db string) {
	srv, err := temporalserver.Start(temporalserver.Options{DatabaseFile: db})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, worker.Options{})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var src strings.Builder
	src.WriteString("steps:\n")
	for i := range 50 {
		fmt.Fprintf(&src, "  - {id: s%d, uses: noop}\n", i)
	}
	p := plan(b, src.String())
	var gaps []time.Duration
	i := 0
	for b.Loop() {
		i++
		r, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: fmt.Sprintf("bench-%d", i), TaskQueue: workflows.TaskQueue}, workflows.RunbookWorkflowName, workflows.Input{Plan: p})
		if err != nil {
			b.Fatal(err)
		}
		var st workflows.Status
		if err := r.Get(context.Background(), &st); err != nil {
			b.Fatal(err)
		}
		prev := st.StartedAt
		for _, s := range st.Steps {
			gaps = append(gaps, s.EndedAt.Sub(prev))
			prev = *s.EndedAt
		}
	}
	slices.Sort(gaps)
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "ms/step-p50")
	b.ReportMetric(float64(gaps[len(gaps)*99/100].Microseconds())/1000, "ms/step-p99")
}
