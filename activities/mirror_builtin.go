package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/internal/metrics"
	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// builtinMirror is Ferry's own mirror: it copies inside this worker, heartbeating its
// progress, and, restarted after a crash, continues from what the target holds.
type builtinMirror struct{}

func (builtinMirror) exactSyncs() bool { return true }

// deploy has nothing to start (the copy is watch); it counts the partitions to copy to say
// how many shards copy them.
func (builtinMirror) deploy(ctx context.Context, _ *Activities, spec runbook.MirrorSpec, f *flow.Flow) (map[string]any, error) {
	parts, _, err := f.Partitions(ctx, nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{"partitions": len(parts), "shards": spec.Replication.ShardCount(len(parts))}, nil
}

func (builtinMirror) remove(context.Context, *Activities, runbook.MirrorSpec) error { return nil }

// watch copies until cancelled (by mirror.stop or the end of the run), keeping the standby's
// groups in step when the replication says so.
func (builtinMirror) watch(ctx context.Context, a *Activities, spec runbook.MirrorSpec) error {
	rep := spec.Replication
	d := a.dialer()
	origin, err := d.Options(ctx, rep.Origin, spec.Clusters[rep.Origin])
	if err != nil {
		return badInput("%v", err)
	}
	target, err := d.Options(ctx, rep.Target, spec.Clusters[rep.Target])
	if err != nil {
		return badInput("%v", err)
	}
	// Heartbeats go out every second whatever the copy is doing (loading a long offset map,
	// waiting on a broker): they say this worker is alive, so a lost one is noticed within
	// the mirror's short heartbeat timeout; the details say how far the copy has come.
	var details atomic.Pointer[map[string]any]
	details.Store(&map[string]any{"phase": "starting"})
	defer heartbeatEvery(ctx, time.Second, func() any { return *details.Load() })()
	// A sharded copy's shard 0 also writes the heartbeats and runs the group and config syncs.
	first := spec.Shard == 0
	var groups atomic.Pointer[string] // the last group sync, shown with the mirror's progress
	if every := rep.SyncGroups.D(); every > 0 && first {
		gs := mirror.GroupSync{Origin: origin, Target: target, Groups: rep.Groups.SelectGroup, Topics: rep.Replicates,
			Rename: rep.TargetTopic, SyncTopic: rep.SyncTopic(), CheckpointTopic: rep.CheckpointTopic()}
		gctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			everyRound(gctx, "group sync", every, &groups, groupRound(gs))
		}()
	}
	var configs atomic.Pointer[string] // the last config sync, shown with the mirror's progress
	if sc := rep.SyncConfigs; sc != nil && first {
		cs := mirror.ConfigSync{Origin: origin, Target: target, Topics: rep.Replicates, Rename: rep.TargetTopic, Keys: sc.Keys}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			everyRound(cctx, "config sync", cmp.Or(sc.Every.D(), time.Minute), &configs, configRound(cctx, cs))
		}()
	}
	name := spec.RunID
	var owns func(mirror.Partition) bool
	if spec.Shards > 1 {
		name = fmt.Sprintf("%s/%d", spec.RunID, spec.Shard)
		owns = func(p mirror.Partition) bool { return mirror.ShardOf(p, spec.Shards) == spec.Shard }
	}
	var heartbeat *mirror.Heartbeat
	if first {
		heartbeat = &mirror.Heartbeat{Source: rep.OriginAlias(), Target: rep.Target}
	}
	gauges := a.Metrics.Mirror(name)
	defer gauges.Forget()
	err = mirror.Run(ctx, mirror.Config{
		Owns:   owns,
		Origin: origin, Target: target,
		Select:            rep.Replicates,
		Rename:            rep.TargetTopic,
		SyncTopic:         rep.SyncTopic(),
		Replicas:          rep.ReplicationFactor,
		Heartbeat:         heartbeat,
		HeartbeatInterval: rep.HeartbeatInterval.D(),
		Progress: func(p mirror.Progress) {
			d := progressDetails(p, groups.Load())
			if c := configs.Load(); c != nil {
				d["configSync"] = *c
			}
			details.Store(&d)
			report(gauges, p)
		},
	})
	var tooLarge *mirror.RecordTooLargeError
	var refused *mirror.RecordRefusedError
	if errors.Is(err, mirror.ErrSyncTopicCompacted) || errors.As(err, &tooLarge) || errors.As(err, &refused) {
		return badInput("%v", err) // retrying cannot help: someone must change the topic
	}
	return err
}

// progressDetails is a copy's heartbeat, as ferry status shows it on mirror.start.
func progressDetails(p mirror.Progress, groupSync *string) map[string]any {
	behind := make([]string, len(p.Behind))
	for i, b := range p.Behind {
		behind[i] = b.String()
	}
	hb := map[string]any{"records": p.Records, "bytes": p.Bytes, "partitions": p.Partitions, "lag": p.TotalLag, "behind": behind, "rate": math.Round(p.Rate)}
	if s := p.Stalled; s != nil {
		hb["stalled"] = map[string]any{"since": s.Since.UTC().Format(time.RFC3339), "at": s.At, "cause": s.Cause}
	}
	if groupSync != nil {
		hb["groupSync"] = *groupSync
	}
	return hb
}

// everyRound runs a sync beside the copy (of groups, of topic settings) every interval until
// ctx ends, keeping in last what its latest round said. A failed round is reported and
// retried next time: the copy goes on regardless.
func everyRound(ctx context.Context, what string, every time.Duration, last *atomic.Pointer[string], round func(ctx context.Context) (string, error)) {
	log := activity.GetLogger(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		said, err := round(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			said = "failed: " + err.Error()
			log.Warn(what+" failed", "error", err)
		}
		msg := time.Now().UTC().Format(time.RFC3339) + ": " + said
		last.Store(&msg)
	}
}

// groupRound is one group sync round, in words.
func groupRound(gs mirror.GroupSync) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		res, err := gs.Once(ctx)
		msg := fmt.Sprintf("%d partitions of %d groups moved, %d not copied yet", res.Moved, res.Groups, res.Uncopied)
		if len(res.Skipped) > 0 {
			msg += "; skipped " + strings.Join(res.Skipped, ", ")
		}
		return msg, err
	}
}

// configRound is one config sync round, in words; each correction is logged.
func configRound(ctx context.Context, cs mirror.ConfigSync) func(context.Context) (string, error) {
	log := activity.GetLogger(ctx)
	return func(ctx context.Context) (string, error) {
		res, err := cs.Once(ctx)
		msg := fmt.Sprintf("%d topics compared, %d settings corrected", res.Topics, len(res.Corrected))
		for _, c := range res.Corrected {
			log.Info("topic setting corrected", "drift", c)
		}
		if len(res.Left) > 0 {
			msg += "; left " + strings.Join(res.Left, ", ")
			log.Warn("topic setting drift left", "drift", strings.Join(res.Left, "; "))
		}
		return msg, err
	}
}

// report gives a copy's progress to its metrics.
func report(m *metrics.Mirror, p mirror.Progress) {
	if m == nil {
		return
	}
	parts := make([]metrics.PartitionProgress, len(p.Each))
	for i, e := range p.Each {
		parts[i] = metrics.PartitionProgress{Topic: e.Topic, Partition: e.Partition.Partition, Records: e.Records, Bytes: e.Bytes, Lag: e.Lag, RPO: e.RPO}
	}
	age := time.Duration(-1)
	if !p.HeartbeatAt.IsZero() {
		age = time.Since(p.HeartbeatAt)
	}
	m.Report(parts, age, p.Stalled != nil)
}
