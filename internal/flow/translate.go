package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// TranslateOptions say which groups move and how.
type TranslateOptions struct {
	// Groups to move; the replication's groups when nil.
	Groups *runbook.Patterns
	// Force lets a target group move backwards.
	Force bool
	// Checkpoints also writes each position as a MirrorMaker 2 checkpoint.
	Checkpoints bool
}

// Translation is what TranslateGroups did.
type Translation struct {
	Groups, Partitions int
	// Offsets has a line per group partition: "group topic/p: origin -> target".
	Offsets []string
	// Checkpoints written, and why none were when the target principal may not write them.
	Checkpoints        int
	CheckpointsSkipped string
}

// TranslateGroups commits each selected group's origin position on the target, exactly,
// through the mirror's offset syncs, and reads it back. Only groups without members on the
// target are moved, never backwards unless forced. Running it twice commits the same offsets.
func (f *Flow) TranslateGroups(ctx context.Context, o TranslateOptions) (*Translation, error) {
	groups, err := f.Groups(ctx, o.Groups)
	if err != nil || len(groups) == 0 {
		return &Translation{}, err
	}
	if err := f.idleOnTarget(ctx, groups); err != nil {
		return nil, err
	}
	fetched := f.Origin.FetchManyOffsets(ctx, groups...)
	if err := fetched.Error(); err != nil {
		return nil, fmt.Errorf("fetch origin group offsets: %w", err)
	}
	m, err := mirror.LoadMapping(ctx, f.TargetOpts, f.Rep.SyncTopic())
	if err != nil {
		return nil, err
	}
	ends, err := f.targetEnds(ctx, fetched)
	if err != nil {
		return nil, err
	}
	res := &Translation{Groups: len(groups)}
	var checkpoints []mirror.Checkpoint
	for i, g := range groups {
		f.progress(map[string]any{"done": i, "total": len(groups)})
		origin := fetched[g].Fetched.Offsets()
		want, err := f.translateGroup(ctx, m, g, origin, ends)
		if err != nil || len(want) == 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		if err := f.commit(ctx, g, want, o.Force); err != nil {
			return nil, err
		}
		for _, w := range origin.Sorted() {
			if t, ok := want.Lookup(f.Rep.TargetTopic(w.Topic), w.Partition); ok {
				res.Offsets = append(res.Offsets, fmt.Sprintf("%s %s/%d: %d -> %d", g, w.Topic, w.Partition, w.At, t.At))
				checkpoints = append(checkpoints, mirror.Checkpoint{Group: g, Partition: mirror.Partition{Topic: t.Topic, Partition: t.Partition},
					Upstream: w.At, Downstream: t.At, Metadata: w.Metadata})
			}
		}
	}
	res.Partitions = len(res.Offsets)
	if o.Checkpoints {
		if err := f.writeCheckpoints(ctx, res, checkpoints); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// idleOnTarget refuses groups that someone consumes with on the target.
func (f *Flow) idleOnTarget(ctx context.Context, groups []string) error {
	return idle(ctx, f.Target, "the target "+f.Rep.Target, groups)
}

// idle refuses groups that someone consumes with on a cluster (where names it), naming each
// active member.
func idle(ctx context.Context, adm *kadm.Client, where string, groups []string) error {
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		return fmt.Errorf("describe groups on %s: %w", where, err)
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
		return refuse("groups active on %s (stop those consumers first): %s", where, strings.Join(active, "; "))
	}
	return nil
}

// targetEnds lists the end offsets of the target topics the groups' positions fall in.
func (f *Flow) targetEnds(ctx context.Context, fetched kadm.FetchOffsetsResponses) (offsets, error) {
	set := map[string]bool{}
	for _, r := range fetched {
		for _, o := range r.Fetched.Offsets().Sorted() {
			if f.Rep.Replicates(o.Topic) {
				set[f.Rep.TargetTopic(o.Topic)] = true
			}
		}
	}
	var targets []string
	for t := range set {
		targets = append(targets, t)
	}
	return listOffsets(ctx, f.Target, "target", logEnd, targets)
}

// translateGroup maps a group's origin positions on replicated topics to the target.
func (f *Flow) translateGroup(ctx context.Context, m *mirror.Mapping, g string, origin kadm.Offsets, ends offsets) (kadm.Offsets, error) {
	want := kadm.Offsets{}
	for _, o := range origin.Sorted() {
		if !f.Rep.Replicates(o.Topic) || o.At < 0 {
			continue
		}
		p := mirror.Partition{Topic: o.Topic, Partition: o.Partition}
		tp := f.targetPartition(p)
		end, err := ends.at(tp)
		if errors.Is(err, errAbsent) {
			return nil, refuse("group %s: target partition %s missing: run topics.sync and the mirror first", g, tp)
		}
		if err != nil {
			return nil, err
		}
		at, err := f.translate(ctx, m, p, o.At, end)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w: wait for the mirror (mirror.wait) before translating", g, err)
		}
		want.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: at, LeaderEpoch: -1, Metadata: o.Metadata})
	}
	return want, nil
}

// commit commits a group's target positions and reads them back: what the target holds now
// is what consumers will start from.
func (f *Flow) commit(ctx context.Context, g string, want kadm.Offsets, force bool) error {
	if !force {
		cur, err := f.Target.FetchOffsets(ctx, g)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return fmt.Errorf("group %s: fetch target offsets: %w", g, err)
		}
		var back []string
		want.Each(func(o kadm.Offset) {
			if c, ok := cur.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At > o.At {
				back = append(back, fmt.Sprintf("%s/%d %d -> %d", o.Topic, o.Partition, c.At, o.At))
			}
		})
		if len(back) > 0 {
			return refuse("group %s would move backwards on the target (%s); set force: true to allow", g, strings.Join(back, ", "))
		}
	}
	resp, err := f.Target.CommitOffsets(ctx, g, want)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("group %s: commit on target: %w", g, err)
	}
	got, err := f.Target.FetchOffsets(ctx, g)
	if err != nil {
		return fmt.Errorf("group %s: read back: %w", g, err)
	}
	var bad []string
	want.Each(func(o kadm.Offset) {
		if c, ok := got.Lookup(o.Topic, o.Partition); !ok || c.At != o.At {
			bad = append(bad, fmt.Sprintf("%s/%d want %d got %d", o.Topic, o.Partition, o.At, c.At))
		}
	})
	if len(bad) > 0 {
		return fmt.Errorf("group %s: read back differs: %s", g, strings.Join(bad, ", "))
	}
	return nil
}

// writeCheckpoints writes the positions as MirrorMaker 2 checkpoints, after the commits
// (which are what consumers start from); a retry writes them again. A principal not allowed
// to write them does not stop a cutover: the translation says why instead.
func (f *Flow) writeCheckpoints(ctx context.Context, res *Translation, checkpoints []mirror.Checkpoint) error {
	err := mirror.WriteCheckpoints(ctx, f.TargetOpts, f.Rep.CheckpointTopic(), checkpoints)
	switch {
	case err == nil:
		res.Checkpoints = len(checkpoints)
	case errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed):
		res.CheckpointsSkipped = fmt.Sprintf("%v (allow the target principal to create and write %s, or set checkpoints: false)", err, f.Rep.CheckpointTopic())
	default:
		return err
	}
	return nil
}
