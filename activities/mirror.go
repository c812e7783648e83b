package activities

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/internal/metrics"
	"github.com/ferryhq/ferry/runbook"
)

// mirrorBackend is one replication engine as Ferry runs it. The mirror workflow deploys it
// (MirrorMaker 2 engines), supervises watch until the run stops it, then removes it; lag and
// translation are measured in Kafka whatever the engine.
type mirrorBackend interface {
	// deploy starts the engine and returns once it copies; outputs go to mirror.start. f is
	// connected to both clusters.
	deploy(ctx context.Context, a *Activities, spec runbook.MirrorSpec, f *flow.Flow) (map[string]any, error)
	// watch runs or watches the engine, heartbeating its state, until ctx ends.
	watch(ctx context.Context, a *Activities, spec runbook.MirrorSpec) error
	// remove takes the engine down; an engine already gone is fine.
	remove(ctx context.Context, a *Activities, spec runbook.MirrorSpec) error
	// exactSyncs reports whether the engine writes an offset sync at its first record and at
	// every gap, so its offset map alone translates exactly.
	exactSyncs() bool
}

// backends are the replication engines by name: an engine is a file with its backend and a
// line here.
var backends = map[runbook.Engine]mirrorBackend{
	runbook.EngineBuiltin: builtinMirror{},
	runbook.EngineConnect: connectMirror{},
	runbook.EngineStrimzi: strimziMirror{},
}

func backendOf(e runbook.Engine) mirrorBackend { return backends[e.Or()] }

func (a *Activities) mirrorSteps() map[string]Step {
	return map[string]Step{runbook.StepMirrorWait: a.mirrorWait}
}

// registerMirror registers the mirror workflow's activities, each for every engine.
// mirror.run is the builtin engine's name for watch, kept for recorded runs.
func (a *Activities) registerMirror(w worker.ActivityRegistry) {
	w.RegisterActivityWithOptions(a.mirrorDeploy, activity.RegisterOptions{Name: contract.ActivityMirrorDeploy})
	w.RegisterActivityWithOptions(a.mirrorWatch, activity.RegisterOptions{Name: contract.ActivityMirrorWatch})
	w.RegisterActivityWithOptions(a.mirrorWatch, activity.RegisterOptions{Name: contract.ActivityMirrorRun})
	w.RegisterActivityWithOptions(a.mirrorRemove, activity.RegisterOptions{Name: contract.ActivityMirrorRemove})
}

// mirrorDeploy checks that both clusters answer, so mirror.start fails on a wrong address or
// credential instead of reporting a mirror that cannot copy, then deploys the engine. The
// outputs are the engine's and the brokers each cluster has.
func (a *Activities) mirrorDeploy(ctx context.Context, spec runbook.MirrorSpec) (map[string]any, error) {
	f, closeFn, err := a.openFlow(ctx, flowInput(spec))
	if err != nil {
		return nil, classify(err)
	}
	defer closeFn()
	brokers, err := clustersAnswer(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := refuseForeignData(ctx, f); err != nil {
		return nil, err
	}
	out, err := backendOf(spec.Replication.Engine).deploy(ctx, a, spec, f)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	out["brokers"] = brokers
	return out, nil
}

// flowInput is what openFlow needs to reach a mirror's clusters outside a step.
func flowInput(spec runbook.MirrorSpec) runbook.StepInput {
	return runbook.StepInput{RunID: spec.RunID, StepID: "mirror", Runbook: spec.Runbook, Replication: spec.Replication, Clusters: spec.Clusters}
}

// refuseForeignData fails mirror.start when target topics hold records this mirror did not
// write, unless the replication says to append after them: a mirror started there (backup.yaml
// run again after a restore from its target) would copy the origin's whole history after
// data that came from it.
func refuseForeignData(ctx context.Context, f *flow.Flow) error {
	rep := f.Rep
	if rep.TargetData == "append" {
		return nil
	}
	found, err := f.ForeignData(ctx)
	if err != nil || len(found) == 0 {
		return err
	}
	more := ""
	if len(found) > 5 {
		more = fmt.Sprintf(" and %d more", len(found)-5)
		found = found[:5]
	}
	return badInput("target %s already holds records this mirror did not write (%s%s): the mirror would copy the origin's whole history after them, twice over if they came from the origin (a cluster restored from this target). Empty those topics, or set replication.targetData: append to copy after them",
		rep.Target, strings.Join(found, ", "), more)
}

// clustersAnswer returns how many brokers the origin and the target have. Two names for one
// cluster (the same cluster id) are refused: the mirror would copy every record onto itself,
// for ever.
func clustersAnswer(ctx context.Context, f *flow.Flow) (map[string]any, error) {
	rep := f.Rep
	brokers := map[string]any{}
	ids := map[string]string{}
	for name, adm := range map[string]*kadm.Client{rep.Origin: f.Origin, rep.Target: f.Target} {
		meta, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return nil, classify(fmt.Errorf("cluster %s: %w", name, err))
		}
		brokers[name] = len(meta.Brokers)
		ids[name] = meta.Cluster
	}
	if id := ids[rep.Origin]; id != "" && id == ids[rep.Target] {
		return nil, badInput("origin %s and target %s are the same Kafka cluster (cluster id %s): a mirror would copy every record onto itself", rep.Origin, rep.Target, id)
	}
	return brokers, nil
}

func (a *Activities) mirrorWatch(ctx context.Context, spec runbook.MirrorSpec) error {
	if spec.Replication.Engine.Managed() && a.Metrics != nil {
		defer a.measureMirror(ctx, spec, managedMeasureEvery)()
	}
	return backendOf(spec.Replication.Engine).watch(ctx, a, spec)
}

// managedMeasureEvery is how often a MirrorMaker 2 mirror's lag and heartbeat are measured
// for metrics: each measure reads the offset syncs and end offsets of both clusters.
const managedMeasureEvery = 15 * time.Second

// measureMirror reports a MirrorMaker 2 mirror's lag per partition and the age of its last
// heartbeat on the target, measured in Kafka as mirror.wait does, until stop. The copy
// itself runs in Connect: its record counts are Connect's metrics, and its RPO is not
// known here (left out rather than guessed).
func (a *Activities) measureMirror(ctx context.Context, spec runbook.MirrorSpec, every time.Duration) (stop func()) {
	gauges := a.Metrics.Mirror(spec.RunID)
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	in := flowInput(spec)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if f, closeFn, err := a.openFlow(mctx, in); err == nil {
				_, per, lagErr := f.Lag(mctx)
				age, found, hbErr := f.HeartbeatAge(mctx, time.Now())
				closeFn()
				if lagErr == nil && hbErr == nil {
					if !found {
						age = -1
					}
					gauges.Report(lagParts(per), age, false)
				}
			}
			select {
			case <-mctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done; gauges.Forget() }
}

// lagParts turns flow.Lag's per-partition lag ("topic/p") into metrics partitions, RPO unknown.
func lagParts(per map[string]int64) []metrics.PartitionProgress {
	parts := make([]metrics.PartitionProgress, 0, len(per))
	for name, lag := range per {
		i := strings.LastIndex(name, "/")
		p, err := strconv.Atoi(name[i+1:])
		if i < 0 || err != nil {
			continue
		}
		parts = append(parts, metrics.PartitionProgress{Topic: name[:i], Partition: int32(p), Lag: lag, RPO: -1})
	}
	return parts
}

func (a *Activities) mirrorRemove(ctx context.Context, spec runbook.MirrorSpec) error {
	return backendOf(spec.Replication.Engine).remove(ctx, a, spec)
}

// mirrorWait waits until the mirror has copied everything but maxLag records.
func (a *Activities) mirrorWait(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.MirrorWaitParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	return waitLag(ctx, p.Interval.D(), p.MaxLag, func() (int64, error) {
		total, _, err := f.Lag(ctx)
		return total, err
	})
}

// waitLag measures lag every interval (1s when 0) until it is at most maxLag; the output is
// the lag then. It heartbeats every second whatever the interval or a slow measure, so a lost
// worker and a cancelled step are both noticed within seconds.
func waitLag(ctx context.Context, interval time.Duration, maxLag int, measure func() (int64, error)) (runbook.StepResult, error) {
	if interval <= 0 {
		interval = time.Second
	}
	progress(ctx, map[string]any{"maxLag": maxLag})
	var over series
	first := int64(-1) // the lag the wait began with
	began := time.Now()
	for {
		lag, err := measure()
		if err != nil {
			return runbook.StepResult{}, err
		}
		now := time.Now()
		over.add(now, lag)
		if first < 0 {
			first = lag
		}
		progress(ctx, catchUp(first, lag, int64(maxLag), now.Sub(began)))
		if lag <= int64(maxLag) {
			return result(map[string]any{"lag": lag, "lagSeries": over.output()})
		}
		select {
		case <-ctx.Done():
			return runbook.StepResult{}, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// largestRecord is the largest record batch the origin's selected topics accept: the
// highest effective max.message.bytes among them (the topic's, or its brokers' default), so
// a MirrorMaker 2 engine is sized to copy every record Kafka took. 0 when no topic matches.
func (a *Activities) largestRecord(ctx context.Context, spec runbook.MirrorSpec) (int, error) {
	rep := spec.Replication
	cl, err := a.dialer().Connect(ctx, rep.Origin, spec.Clusters[rep.Origin])
	if err != nil {
		return 0, classify(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	listed, err := adm.ListTopics(ctx)
	if err != nil {
		return 0, classify(fmt.Errorf("cluster %s: list topics: %w", rep.Origin, err))
	}
	var topics []string
	for _, t := range listed.Names() {
		if rep.Replicates(t) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return 0, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return 0, classify(fmt.Errorf("cluster %s: describe topic configs: %w", rep.Origin, err))
	}
	largest := 0
	for _, rc := range rcs {
		for _, kv := range rc.Configs {
			if kv.Key == "max.message.bytes" && kv.Value != nil {
				if n, err := strconv.Atoi(*kv.Value); err == nil {
					largest = max(largest, n)
				}
			}
		}
	}
	return largest, nil
}

// catchUp is a wait's progress: how much of the lag it began with is gone (done of total,
// which ferry watch draws as a bar), the net rate it goes at, and when it will be at maxLag
// at that rate. Records still arriving slow the net rate: the ETA is of the catch-up, not
// of the copy.
func catchUp(first, lag, maxLag int64, elapsed time.Duration) map[string]any {
	p := map[string]any{"lag": lag, "maxLag": maxLag}
	total := max(first-maxLag, 0)
	if total == 0 {
		return p
	}
	done := min(max(first-lag, 0), total)
	p["done"], p["total"] = done, total
	if secs := elapsed.Seconds(); secs >= 1 && done > 0 {
		rate := float64(done) / secs
		p["rate"] = rate
		if left := lag - maxLag; left > 0 {
			p["eta"] = (time.Duration(float64(left) / rate * float64(time.Second))).Round(time.Second).String()
		}
	}
	return p
}
