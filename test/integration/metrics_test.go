package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferryhq/ferry/internal/metrics"
)

// TestCLIServesMetrics: ferry server serves /metrics; a run keeps a mirror copying and waits
// for a person; a scrape, parsed as the exposition format, shows the mirror's records per
// partition matching what was copied, its lag and heartbeat, the drill it measured, the run
// waiting for approval, its finished steps and the Temporal SDK's worker series. Once the
// run ends, the mirror's series are gone.
func TestCLIServesMetrics(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin)
	c := newCLI(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	server := c.cmd("server", "--metrics-address", addr)
	serverOut := &lockedBuffer{}
	server.Stdout, server.Stderr = serverOut, serverOut
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Process.Kill()
	waitFor(t, 60*time.Second, func() (string, bool) {
		return serverOut.String(), strings.Contains(serverOut.String(), "Prometheus metrics on http://"+addr+"/metrics")
	})

	file := filepath.Join(t.TempDir(), "watched.yaml")
	src := fmt.Sprintf(`apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: watched-standby}
clusters:
  origin: {bootstrap: ["%s"]}
  target: {bootstrap: ["%s"]}
replication: {origin: origin, target: target, topics: {include: [orders]}, groups: {include: [billing]}, syncGroups: 200ms}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0}}
  - {id: drill, uses: drill.measure}
  - {id: keep, uses: approval, with: {message: "stop the standby?"}}
`, origin, target)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := c.run("run", "--detach", "--id", "w1", file); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}

	var fams map[string]*dto.MetricFamily
	waitFor(t, 90*time.Second, func() (string, bool) {
		var err error
		fams, err = scrape("http://" + addr + "/metrics")
		if err != nil {
			return err.Error(), false
		}
		return fmt.Sprint(sum(fams, metrics.MirrorRecordsCopied, nil), " records, approvals ", sum(fams, metrics.ApprovalsWaiting, nil)),
			sum(fams, metrics.MirrorRecordsCopied, nil) == 125 && sum(fams, metrics.ApprovalsWaiting, map[string]string{"runbook": "watched-standby"}) == 1
	})
	for p := range 3 {
		part := map[string]string{"mirror": "w1", "topic": "orders", "partition": strconv.Itoa(p)}
		if n := sum(fams, metrics.MirrorRecordsCopied, part); n < 40 {
			t.Errorf("orders/%d: %v records copied, want at least the 40 seeded", p, n)
		}
		if n := sum(fams, metrics.MirrorLag, part); n != 0 {
			t.Errorf("orders/%d: lag %v after mirror.wait said 0", p, n)
		}
	}
	if n := sum(fams, metrics.MirrorBytesCopied, map[string]string{"mirror": "w1"}); n <= 0 {
		t.Errorf("bytes copied %v", n)
	}
	if age, ok := value(fams, metrics.MirrorHeartbeatAge, map[string]string{"mirror": "w1"}); !ok || age < 0 || age > 30 {
		t.Errorf("heartbeat age %v (present %v): the mirror writes one every few seconds", age, ok)
	}
	if n, ok := value(fams, metrics.DrillPassed, map[string]string{"runbook": "watched-standby"}); !ok || n != 1 {
		t.Errorf("drill passed = %v (present %v)", n, ok)
	}
	if _, ok := value(fams, metrics.DrillRPO, map[string]string{"runbook": "watched-standby"}); !ok {
		t.Error("no drill RPO")
	}
	if n := sum(fams, metrics.Runs, map[string]string{"runbook": "watched-standby", "phase": "waiting for approval"}); n != 1 {
		t.Errorf("runs waiting for approval: %v", n)
	}
	for _, step := range []string{"topics", "mirror", "caught_up", "drill"} {
		if n := count(fams, metrics.StepDuration, map[string]string{"runbook": "watched-standby", "step": step, "outcome": "succeeded"}); n != 1 {
			t.Errorf("step %s: %d durations recorded, want 1", step, n)
		}
	}
	if _, ok := fams["temporal_activity_execution_latency_seconds"]; !ok {
		t.Errorf("no Temporal SDK worker series; families: %v", names(fams))
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "ferry_") && f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}

	checkDashboard(t, fams)

	if out, code := c.run("approve", "w1"); code != 0 {
		t.Fatalf("approve: %d %s", code, out)
	}
	waitFor(t, 60*time.Second, func() (string, bool) {
		fams, err := scrape("http://" + addr + "/metrics")
		if err != nil {
			return err.Error(), false
		}
		_, left := fams[metrics.MirrorLag]
		return strings.Join(names(fams), " "), !left
	})
}

func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// matching are the series of a family whose labels include want.
func matching(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			ok = ok && have[k] == v
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func sample(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var total float64
	for _, m := range matching(fams, name, want) {
		total += sample(m)
	}
	return total
}

func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	ms := matching(fams, name, want)
	if len(ms) != 1 {
		return 0, false
	}
	return sample(ms[0]), true
}

// count is the observations of a histogram's matching series.
func count(fams map[string]*dto.MetricFamily, name string, want map[string]string) uint64 {
	var n uint64
	for _, m := range matching(fams, name, want) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

func names(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for n := range fams {
		out = append(out, n)
	}
	return out
}

// checkDashboard: every query of deploy/grafana/ferry.json names a family this scrape shows
// or one Ferry declares (a group's series exist only while a step watches it).
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/ferry.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	known := func(name string) bool {
		for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
			base, ok := strings.CutSuffix(name, suffix)
			if ok && (fams[base] != nil || slices.Contains(metrics.Names, base)) {
				return true
			}
		}
		return false
	}
	metric := regexp.MustCompile(`\b(?:ferry|temporal)_[a-z_]+\b`)
	queries := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			queries++
			found := metric.FindAllString(target.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: query %q names no Ferry or Temporal metric", p.Title, target.Expr)
			}
			for _, name := range found {
				if !known(name) {
					t.Errorf("panel %q: %s is not a metric Ferry exports", p.Title, name)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries", queries)
	}
}
