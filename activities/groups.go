package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/mirror"
)

// groupsTranslate commits each selected group's origin position on the target, exactly,
// through the mirror's offset syncs. Running it twice commits the same offsets again.
func groupsTranslate(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, f, err := flowStep[engine.GroupsTranslateParams](ctx, in)
	if err != nil {
		return engine.StepResult{}, err
	}
	defer f.close()
	groups, err := f.groups(ctx, p.Groups)
	if err != nil {
		return engine.StepResult{}, err
	}
	if len(groups) == 0 {
		return engine.StepResult{Outputs: map[string]any{"groups": 0, "partitions": 0, "offsets": []any{}, "checkpoints": 0}}, nil
	}
	// Only groups nobody consumes from on the target may be moved.
	described, err := f.target.DescribeGroups(ctx, groups...)
	if err != nil {
		return engine.StepResult{}, fmt.Errorf("describe target groups: %w", err)
	}
	var active []string
	for _, g := range described.Sorted() {
		if len(g.Members) > 0 {
			var who []string
			for _, m := range g.Members {
				who = append(who, fmt.Sprintf("%s (client %s at %s)", m.MemberID, m.ClientID, m.ClientHost))
			}
			active = append(active, fmt.Sprintf("%s has %d active member(s): %s", g.Group, len(g.Members), strings.Join(who, ", ")))
		}
	}
	if len(active) > 0 {
		return engine.StepResult{}, badInput("groups active on the target %s (stop those consumers first): %s", f.rep.Target, strings.Join(active, "; "))
	}
	fetched := f.origin.FetchManyOffsets(ctx, groups...)
	if err := fetched.Error(); err != nil {
		return engine.StepResult{}, fmt.Errorf("fetch origin group offsets: %w", err)
	}
	m, err := mirror.LoadMapping(ctx, f.targetOpts, f.rep.SyncTopic())
	if err != nil {
		return engine.StepResult{}, err
	}
	topicSet := map[string]bool{}
	for _, g := range groups {
		for _, o := range fetched[g].Fetched.Offsets().Sorted() {
			if f.rep.Topics.Select(o.Topic) {
				topicSet[f.rep.TargetTopic(o.Topic)] = true
			}
		}
	}
	var targets []string
	for t := range topicSet {
		targets = append(targets, t)
	}
	ends, err := f.target.ListEndOffsets(ctx, targets...)
	if err != nil {
		return engine.StepResult{}, fmt.Errorf("target end offsets: %w", err)
	}
	var lines []any
	var checkpoints []mirror.Checkpoint
	partitions := 0
	for i, g := range groups {
		activity.RecordHeartbeat(ctx, map[string]any{"done": i, "total": len(groups)})
		want := kadm.Offsets{}
		for _, o := range fetched[g].Fetched.Offsets().Sorted() {
			if !f.rep.Topics.Select(o.Topic) || o.At < 0 {
				continue
			}
			part := mirror.Partition{Topic: o.Topic, Partition: o.Partition}
			tt := f.rep.TargetTopic(o.Topic)
			end, ok := ends.Lookup(tt, o.Partition)
			if !ok || end.Err != nil {
				return engine.StepResult{}, fmt.Errorf("group %s: target partition %s/%d missing: run topics.sync and the mirror first", g, tt, o.Partition)
			}
			at, err := f.translate(ctx, m, part, o.At, end.Offset)
			if err != nil {
				return engine.StepResult{}, fmt.Errorf("group %s: %w: wait for the mirror (mirror.wait) before translating", g, err)
			}
			want.Add(kadm.Offset{Topic: tt, Partition: o.Partition, At: at, LeaderEpoch: -1, Metadata: o.Metadata})
			lines = append(lines, fmt.Sprintf("%s %s/%d: %d -> %d", g, o.Topic, o.Partition, o.At, at))
			partitions++
		}
		if len(want) == 0 {
			continue
		}
		if !p.Force {
			cur, err := f.target.FetchOffsets(ctx, g)
			if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
				return engine.StepResult{}, fmt.Errorf("group %s: fetch target offsets: %w", g, err)
			}
			var back []string
			want.Each(func(o kadm.Offset) {
				if c, ok := cur.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At > o.At {
					back = append(back, fmt.Sprintf("%s/%d %d -> %d", o.Topic, o.Partition, c.At, o.At))
				}
			})
			if len(back) > 0 {
				return engine.StepResult{}, badInput("group %s would move backwards on the target (%s); set force: true to allow", g, strings.Join(back, ", "))
			}
		}
		resp, err := f.target.CommitOffsets(ctx, g, want)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return engine.StepResult{}, fmt.Errorf("group %s: commit on target: %w", g, err)
		}
		// Read back: what the target holds now is what consumers will start from.
		got, err := f.target.FetchOffsets(ctx, g)
		if err != nil {
			return engine.StepResult{}, fmt.Errorf("group %s: read back: %w", g, err)
		}
		var bad []string
		want.Each(func(o kadm.Offset) {
			if c, ok := got.Lookup(o.Topic, o.Partition); !ok || c.At != o.At {
				bad = append(bad, fmt.Sprintf("%s/%d want %d got %d", o.Topic, o.Partition, o.At, c.At))
			}
		})
		if len(bad) > 0 {
			return engine.StepResult{}, fmt.Errorf("group %s: read back differs: %s", g, strings.Join(bad, ", "))
		}
		if p.Checkpoints == nil || *p.Checkpoints {
			for _, o := range fetched[g].Fetched.Offsets().Sorted() {
				if w, ok := want.Lookup(f.rep.TargetTopic(o.Topic), o.Partition); ok {
					checkpoints = append(checkpoints, mirror.Checkpoint{Group: g, Partition: mirror.Partition{Topic: w.Topic, Partition: w.Partition},
						Upstream: o.At, Downstream: w.At, Metadata: o.Metadata})
				}
			}
		}
	}
	// Written after the commits, which are what consumers start from; a retry writes them again.
	// A principal not allowed to write them does not stop a cutover: the step says so instead.
	out := map[string]any{"groups": len(groups), "partitions": partitions, "offsets": lines, "checkpoints": len(checkpoints)}
	if err := mirror.WriteCheckpoints(ctx, f.targetOpts, f.rep.CheckpointTopic(), checkpoints); err != nil {
		if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			return engine.StepResult{}, err
		}
		activity.GetLogger(ctx).Warn("checkpoints not written", "error", err)
		out["checkpoints"] = 0
		out["checkpointsSkipped"] = fmt.Sprintf("%v (allow the target principal to create and write %s, or set checkpoints: false)", err, f.rep.CheckpointTopic())
	}
	return engine.StepResult{Outputs: out}, nil
}

// groups lists the origin's groups that sel selects (the replication's groups when nil), sorted.
func (f *flow) groups(ctx context.Context, sel *engine.Patterns) ([]string, error) {
	if sel == nil {
		sel = &f.rep.Groups
	}
	listed, err := f.origin.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list origin groups: %w", err)
	}
	var groups []string
	for _, g := range listed.Groups() {
		if sel.SelectGroup(g) {
			groups = append(groups, g)
		}
	}
	sort.Strings(groups)
	return groups, nil
}

// translate maps an origin position to the target position of the same next record.
func (f *flow) translate(ctx context.Context, m *mirror.Mapping, part mirror.Partition, at, targetEnd int64) (int64, error) {
	if f.rep.Engine == "" || f.rep.Engine == "builtin" {
		// Ferry's own mirror syncs at every gap: the map is exact.
		return m.Translate(part, at, targetEnd, func(from, to int64) (bool, error) {
			return mirror.HasData(ctx, f.originOpts, part, from, to)
		})
	}
	tp := mirror.Partition{Topic: f.rep.TargetTopic(part.Topic), Partition: part.Partition}
	return mirror.Locate(ctx, f.originOpts, f.targetOpts, m, part, tp, at, targetEnd)
}

// verifyParity compares each mirrored partition's records on both sides: count and an
// order-sensitive digest of key, value, headers and timestamp.
func verifyParity(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, f, err := flowStep[engine.VerifyParityParams](ctx, in)
	if err != nil {
		return engine.StepResult{}, err
	}
	defer f.close()
	parts, counts, err := f.partitions(ctx, p.Topics)
	if err != nil {
		return engine.StepResult{}, err
	}
	var topics, targets []string
	for t := range counts {
		topics = append(topics, t)
		targets = append(targets, f.rep.TargetTopic(t))
	}
	if len(parts) == 0 {
		return engine.StepResult{Outputs: map[string]any{"partitions": 0, "records": 0}}, nil
	}
	lso, err := f.origin.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return engine.StepResult{}, err
	}
	tends, err := f.target.ListEndOffsets(ctx, targets...)
	if err != nil {
		return engine.StepResult{}, err
	}
	m, err := mirror.LoadMapping(ctx, f.targetOpts, f.rep.SyncTopic())
	if err != nil {
		return engine.StepResult{}, err
	}
	ostarts, err := f.origin.ListStartOffsets(ctx, topics...)
	if err != nil {
		return engine.StepResult{}, err
	}
	tstarts, err := f.target.ListStartOffsets(ctx, targets...)
	if err != nil {
		return engine.StepResult{}, err
	}
	os, oe := map[mirror.Partition]int64{}, map[mirror.Partition]int64{}
	ts, te := map[mirror.Partition]int64{}, map[mirror.Partition]int64{}
	for _, part := range parts {
		tp := mirror.Partition{Topic: f.rep.TargetTopic(part.Topic), Partition: part.Partition}
		o, _ := lso.Lookup(part.Topic, part.Partition)
		t, _ := tends.Lookup(tp.Topic, tp.Partition)
		oe[part], te[tp] = o.Offset, t.Offset
		// Compare from where the mirror started on each side: Ferry's mirror syncs its first
		// record; MirrorMaker 2 may not, and copies from the log start.
		if builtin := f.rep.Engine == "" || f.rep.Engine == "builtin"; !builtin {
			s, _ := ostarts.Lookup(part.Topic, part.Partition)
			t, _ := tstarts.Lookup(tp.Topic, tp.Partition)
			os[part], ts[tp] = s.Offset, t.Offset
		} else if syncs := m.Syncs(part); len(syncs) > 0 {
			os[part], ts[tp] = syncs[0].Upstream, syncs[0].Downstream
		} else {
			os[part], ts[tp] = o.Offset, t.Offset // nothing mirrored: both sides must be empty ranges
		}
	}
	activity.RecordHeartbeat(ctx, map[string]any{"phase": "origin"})
	od, err := mirror.Digests(ctx, f.originOpts, os, oe)
	if err != nil {
		return engine.StepResult{}, fmt.Errorf("read origin: %w", err)
	}
	activity.RecordHeartbeat(ctx, map[string]any{"phase": "target"})
	td, err := mirror.Digests(ctx, f.targetOpts, ts, te)
	if err != nil {
		return engine.StepResult{}, fmt.Errorf("read target: %w", err)
	}
	var bad []string
	var records int64
	for _, part := range parts {
		tp := mirror.Partition{Topic: f.rep.TargetTopic(part.Topic), Partition: part.Partition}
		a, b := od[part], td[tp]
		records += a.Records
		if a.Records != b.Records || a.SHA256 != b.SHA256 {
			where := ""
			if len(bad) < 10 {
				mm, err := mirror.FirstMismatch(ctx, f.originOpts, f.targetOpts, part, tp, os[part], oe[part], ts[tp], te[tp])
				if err != nil {
					return engine.StepResult{}, err
				}
				if mm != nil {
					where = fmt.Sprintf(", first difference at origin offset %d / target offset %d (-1: no record)", mm.Origin, mm.Target)
				}
			}
			bad = append(bad, fmt.Sprintf("%s: origin %d records (offsets %d..%d), target %s %d records (offsets %d..%d)%s",
				part, a.Records, a.First, a.Last, tp, b.Records, b.First, b.Last, where))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("and %d more", len(bad)-10))
		}
		return engine.StepResult{}, badInput("parity check failed for %d partition(s): %s", len(bad), strings.Join(bad, "; "))
	}
	return engine.StepResult{Outputs: map[string]any{"partitions": len(parts), "records": records}}, nil
}

// topicsCleanup deletes the replication's internal topics on both clusters: offset syncs,
// checkpoints, heartbeats, and MirrorMaker 2's Connect topics. Never a user topic.
func topicsCleanup(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, f, err := flowStep[engine.TopicsCleanupParams](ctx, in)
	if err != nil {
		return engine.StepResult{}, err
	}
	defer f.close()
	var deleted []any
	for _, side := range []struct {
		name string
		adm  *kadm.Client
	}{{f.rep.Origin, f.origin}, {f.rep.Target, f.target}} {
		topics, err := side.adm.ListTopics(ctx)
		if err != nil {
			return engine.StepResult{}, fmt.Errorf("list topics on %s: %w", side.name, err)
		}
		var doomed []string
		for _, t := range topics.Names() {
			if internalTopic(t, f.rep.OriginAlias(), f.rep.ConnectGroup(in.Runbook)) {
				doomed = append(doomed, t)
			}
		}
		for _, t := range p.Topics {
			if topics.Has(t) && side.name == f.rep.Origin {
				doomed = append(doomed, t)
			}
		}
		sort.Strings(doomed)
		for _, t := range doomed {
			deleted = append(deleted, side.name+":"+t)
		}
		if p.DryRun || len(doomed) == 0 {
			continue
		}
		resp, err := side.adm.DeleteTopics(ctx, doomed...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return engine.StepResult{}, fmt.Errorf("delete %v on %s: %w", doomed, side.name, err)
		}
	}
	return engine.StepResult{Outputs: map[string]any{"deleted": deleted}}, nil
}

// internalTopic recognises replication bookkeeping topics, Ferry's and MirrorMaker 2's.
func internalTopic(t, alias, connectGroup string) bool {
	switch {
	case t == connectGroup+"-configs", t == connectGroup+"-offsets", t == connectGroup+"-status":
		return true // Kafka Connect's own topics under MirrorMaker 2 (engines connect, strimzi)
	case strings.HasPrefix(t, "mm2-offset-syncs.") && strings.HasSuffix(t, ".internal"):
		return true
	case strings.HasPrefix(t, "mm2-configs.") || strings.HasPrefix(t, "mm2-offsets.") || strings.HasPrefix(t, "mm2-status."):
		return strings.HasSuffix(t, ".internal")
	case t == alias+".checkpoints.internal", t == "heartbeats", t == alias+".heartbeats":
		return true
	}
	return false
}
