// Package metrics is Ferry's Prometheus exposition: one registry holding the Temporal SDK's
// worker metrics and Ferry's own, served on /metrics by ferry server and ferry worker.
//
// Label cardinality is bounded by construction: mirror series carry the run that owns the
// mirror and are deleted when its copy stops, and a mirror over more than
// MaxPartitionSeries partitions reports per topic (partition="all") instead of per
// partition; group series are per cluster and group, deleted when their step ends; step
// series are per runbook and step id, which runbooks bound. No series is labelled by a
// record, key or offset.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// MaxPartitionSeries is the most partitions a mirror reports one by one.
const MaxPartitionSeries = 1000

// Metric names, each in one place: dashboards and tests name them from here.
const (
	MirrorRecordsCopied = "ferry_mirror_records_copied_total"
	MirrorBytesCopied   = "ferry_mirror_bytes_copied_total"
	MirrorLag           = "ferry_mirror_lag_records"
	MirrorRPO           = "ferry_mirror_rpo_seconds"
	MirrorHeartbeatAge  = "ferry_mirror_heartbeat_age_seconds"
	MirrorStalled       = "ferry_mirror_stalled"
	GroupBehind         = "ferry_group_behind_records"
	StepDuration        = "ferry_step_duration_seconds"
	Runs                = "ferry_runs"
	ApprovalsWaiting    = "ferry_approvals_waiting"
	DrillRPO            = "ferry_drill_rpo_seconds"
	DrillPassed         = "ferry_drill_passed"
)

// Names are Ferry's own metric families, each exported by this package.
var Names = []string{
	MirrorRecordsCopied, MirrorBytesCopied, MirrorLag, MirrorRPO, MirrorHeartbeatAge, MirrorStalled,
	GroupBehind, StepDuration, Runs, ApprovalsWaiting, DrillRPO, DrillPassed,
}

// Metrics holds the registry and Ferry's own series. A nil *Metrics records nothing, so
// code that reports does not need to know whether anyone scrapes.
type Metrics struct {
	registry *prometheus.Registry
	sdk      client.MetricsHandler
	scope    tally.Scope
	closer   interface{ Close() error }

	mirrorRecords, mirrorBytes     *prometheus.CounterVec
	mirrorLag, mirrorRPO           *prometheus.GaugeVec
	mirrorHeartbeat, mirrorStalled *prometheus.GaugeVec
	groupBehind                    *prometheus.GaugeVec
	drillRPO, drillPassed          *prometheus.GaugeVec
}

// New builds a registry with the Go runtime's and process's collectors, Ferry's series,
// and a Temporal SDK metrics handler (SDK, StepDuration and the other workflow-side
// series) reporting into it.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{registry: reg}
	part := []string{"mirror", "topic", "partition"}
	m.mirrorRecords = counter(reg, MirrorRecordsCopied, "Records the built-in mirror copied to the target.", part)
	m.mirrorBytes = counter(reg, MirrorBytesCopied, "Key and value bytes the built-in mirror copied to the target.", part)
	m.mirrorLag = gauge(reg, MirrorLag, "Records on the origin not yet copied to the target.", part)
	m.mirrorRPO = gauge(reg, MirrorRPO, "Age of the oldest origin record not yet on the target (0 when caught up): what losing the origin now would lose.", part)
	m.mirrorHeartbeat = gauge(reg, MirrorHeartbeatAge, "Seconds since the mirror last wrote a heartbeat the target acknowledged.", []string{"mirror"})
	m.mirrorStalled = gauge(reg, MirrorStalled, "1 while records wait and none was copied for the stall threshold.", []string{"mirror"})
	m.groupBehind = gauge(reg, GroupBehind, "Records a consumer group has not yet consumed, summed over its partitions.", []string{"cluster", "group"})
	m.drillRPO = gauge(reg, DrillRPO, "The recovery point a drill measured: age of the newest origin record the standby held.", []string{"runbook"})
	m.drillPassed = gauge(reg, DrillPassed, "1 when the last drill met its objectives, 0 when it did not.", []string{"runbook"})

	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: []float64{
			0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600,
		},
		OnRegisterError: func(error) {}, // a series the SDK registers twice keeps its first
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitize,
	}, time.Second)
	m.scope = sdktally.NewPrometheusNamingScope(scope)
	m.closer = closer
	m.sdk = sdktally.NewMetricsHandler(m.scope)
	return m
}

// sanitize makes names and label names Prometheus's, and keeps label values as they are
// (any printable character is valid there): runbook "approval-demo" must read the same in
// every series, the SDK's included.
var sanitize = func() tally.SanitizeOptions {
	o := sdktally.PrometheusSanitizeOptions
	o.ValueCharacters = tally.ValidCharacters{Ranges: []tally.SanitizeRange{{' ', '~'}, {0xa0, 0x10ffff}}}
	return o
}()

func counter(reg *prometheus.Registry, name, help string, labels []string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	reg.MustRegister(v)
	return v
}

func gauge(reg *prometheus.Registry, name, help string, labels []string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	reg.MustRegister(v)
	return v
}

// SDK is the handler to give the Temporal client (client.Options.MetricsHandler): the
// worker's metrics, and what workflows report through workflow.GetMetricsHandler.
func (m *Metrics) SDK() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return m.sdk
}

// Handler serves the exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Serve serves /metrics on addr until Close; the listener is open when it returns, so a
// port in use is an error here. Addr() says where it listens (a :0 port resolved).
func (m *Metrics) Serve(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Close stops reporting the SDK's series.
func (m *Metrics) Close() {
	if m != nil {
		_ = m.closer.Close()
	}
}

// Server is a running /metrics endpoint.
type Server struct {
	ln  net.Listener
	srv *http.Server
	err error
}

// URL is the endpoint's address, http://host:port/metrics.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/metrics" }

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }

// Mirror reports one mirror's progress; Forget removes its series when its copy stops.
type Mirror struct {
	m      *Metrics
	name   string
	mu     sync.Mutex
	copied map[[2]string][2]int64 // label pair -> records, bytes already added
}

// Mirror returns the reporter of the mirror owned by run id; nil on a nil Metrics.
func (m *Metrics) Mirror(name string) *Mirror {
	if m == nil {
		return nil
	}
	return &Mirror{m: m, name: name, copied: map[[2]string][2]int64{}}
}

// PartitionProgress is one partition's state as the mirror reports it.
type PartitionProgress struct {
	Topic     string
	Partition int32
	// Records and Bytes copied since the copy started (they only grow).
	Records, Bytes int64
	Lag            int64
	// RPO is negative when the engine cannot tell (MirrorMaker 2): no RPO series then.
	RPO time.Duration
}

// Report sets the mirror's series from its partitions. Records and bytes are totals since
// the copy started: the counters grow by the difference from the last report.
func (r *Mirror) Report(parts []PartitionProgress, heartbeatAge time.Duration, stalled bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	type agg struct {
		records, bytes, lag int64
		rpo                 time.Duration
	}
	byLabel := map[[2]string]*agg{}
	// rpo starts unknown (-1) and stays so only when every partition's is unknown.
	perPartition := len(parts) <= MaxPartitionSeries
	for _, p := range parts {
		key := [2]string{p.Topic, "all"}
		if perPartition {
			key[1] = strconv.Itoa(int(p.Partition))
		}
		a := byLabel[key]
		if a == nil {
			a = &agg{rpo: -1}
			byLabel[key] = a
		}
		a.records += p.Records
		a.bytes += p.Bytes
		a.lag += p.Lag
		a.rpo = max(a.rpo, p.RPO)
	}
	for key, a := range byLabel {
		labels := prometheus.Labels{"mirror": r.name, "topic": key[0], "partition": key[1]}
		was := r.copied[key]
		if d := a.records - was[0]; d > 0 {
			r.m.mirrorRecords.With(labels).Add(float64(d))
		}
		if d := a.bytes - was[1]; d > 0 {
			r.m.mirrorBytes.With(labels).Add(float64(d))
		}
		r.copied[key] = [2]int64{max(a.records, was[0]), max(a.bytes, was[1])}
		r.m.mirrorLag.With(labels).Set(float64(a.lag))
		if a.rpo >= 0 {
			r.m.mirrorRPO.With(labels).Set(a.rpo.Seconds())
		}
	}
	mirror := prometheus.Labels{"mirror": r.name}
	if heartbeatAge >= 0 {
		r.m.mirrorHeartbeat.With(mirror).Set(heartbeatAge.Seconds())
	}
	r.m.mirrorStalled.With(mirror).Set(b2f(stalled))
}

// Forget deletes the mirror's series: a stopped mirror has no lag to show.
func (r *Mirror) Forget() {
	if r == nil {
		return
	}
	l := prometheus.Labels{"mirror": r.name}
	for _, v := range []*prometheus.CounterVec{r.m.mirrorRecords, r.m.mirrorBytes} {
		v.DeletePartialMatch(l)
	}
	for _, v := range []*prometheus.GaugeVec{r.m.mirrorLag, r.m.mirrorRPO, r.m.mirrorHeartbeat, r.m.mirrorStalled} {
		v.DeletePartialMatch(l)
	}
}

// GroupBehind sets how far a group is behind on a cluster; forget removes the series.
func (m *Metrics) GroupBehind(cluster, group string, records int64) (forget func()) {
	if m == nil {
		return func() {}
	}
	l := prometheus.Labels{"cluster": cluster, "group": group}
	m.groupBehind.With(l).Set(float64(records))
	return func() { m.groupBehind.Delete(l) }
}

// Drill records what a drill of runbook measured; it stays until the next drill.
func (m *Metrics) Drill(runbook string, rpo time.Duration, passed bool) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"runbook": runbook}
	m.drillRPO.With(l).Set(rpo.Seconds())
	m.drillPassed.With(l).Set(b2f(passed))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// RunKey is a runbook and a phase, the labels of the Runs series.
type RunKey struct{ Runbook, Phase string }

// CountRuns adds the Runs and ApprovalsWaiting series (the runs in phase waiting), counted
// by count (the runs not yet ended, by runbook and phase) when scraped, at most every runsEvery: they come from
// Temporal's visibility store, so every worker reports the same numbers whichever of them
// runs a workflow, and a restart loses nothing. A count that fails leaves both out of that
// scrape.
func (m *Metrics) CountRuns(count func(context.Context) (map[RunKey]int, error), waiting string) {
	if m == nil {
		return
	}
	m.registry.MustRegister(&runCollector{
		count:     count,
		waiting:   waiting,
		runs:      prometheus.NewDesc(Runs, "Runs not yet ended, by runbook and phase (running, waiting for approval, paused, rolling back).", []string{"runbook", "phase"}, nil),
		approvals: prometheus.NewDesc(ApprovalsWaiting, "Runs waiting for a person to approve a step.", []string{"runbook"}, nil),
	})
}

const runsEvery = 10 * time.Second

type runCollector struct {
	count           func(context.Context) (map[RunKey]int, error)
	waiting         string
	runs, approvals *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last map[RunKey]int
}

func (c *runCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.runs; ch <- c.approvals }

func (c *runCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > runsEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		counts, err := c.count(ctx)
		cancel()
		if err != nil {
			return
		}
		c.at, c.last = time.Now(), counts
	}
	waiting := map[string]int{}
	for k, n := range c.last {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.GaugeValue, float64(n), k.Runbook, k.Phase)
		if k.Phase == c.waiting {
			waiting[k.Runbook] += n
		}
	}
	for rb, n := range waiting {
		ch <- prometheus.MustNewConstMetric(c.approvals, prometheus.GaugeValue, float64(n), rb)
	}
}
