package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupSync keeps consumer groups' positions on a standby target: each round it translates
// every selected origin group's committed offsets through the offset syncs and commits them on
// the target, so consumers started there begin where the origin's were at that round.
//
// A group with members on the target is left alone (someone consumes there: it is no standby
// any more), a partition not copied up to the group's position yet keeps its last position
// (never ahead of the data), and a position never moves back: a group reset on the origin
// needs groups.translate with force.
type GroupSync struct {
	Origin, Target []kgo.Opt
	// Groups and Topics select what moves; Rename names an origin topic on the target.
	Groups, Topics func(string) bool
	Rename         func(string) string
	// SyncTopic holds the offset syncs; CheckpointTopic, when set, receives each committed
	// position as a MirrorMaker 2 checkpoint.
	SyncTopic, CheckpointTopic string
}

// GroupSyncResult is what one round did.
type GroupSyncResult struct {
	Groups   int      // groups whose positions moved
	Moved    int      // partitions whose positions moved
	Skipped  []string // groups left alone, and why
	Uncopied int      // partitions whose position is not copied yet
}

// Once runs one round.
func (g GroupSync) Once(ctx context.Context) (GroupSyncResult, error) {
	var res GroupSyncResult
	rename := g.Rename
	if rename == nil {
		rename = func(t string) string { return t }
	}
	ocl, err := kgo.NewClient(g.Origin...)
	if err != nil {
		return res, err
	}
	defer ocl.Close()
	tcl, err := kgo.NewClient(g.Target...)
	if err != nil {
		return res, err
	}
	defer tcl.Close()
	origin, target := kadm.NewClient(ocl), kadm.NewClient(tcl)
	listed, err := origin.ListGroups(ctx)
	if err != nil {
		return res, fmt.Errorf("list origin groups: %w", err)
	}
	var groups []string
	for _, name := range listed.Groups() {
		if g.Groups == nil || g.Groups(name) {
			groups = append(groups, name)
		}
	}
	if len(groups) == 0 {
		return res, nil
	}
	sort.Strings(groups)
	described, err := target.DescribeGroups(ctx, groups...)
	if err != nil {
		return res, fmt.Errorf("describe target groups: %w", err)
	}
	fetched := origin.FetchManyOffsets(ctx, groups...)
	if err := fetched.Error(); err != nil {
		return res, fmt.Errorf("fetch origin group offsets: %w", err)
	}
	m, err := LoadMapping(ctx, g.Target, g.SyncTopic)
	if err != nil {
		return res, err
	}
	topics := map[string]bool{}
	for _, name := range groups {
		fetched[name].Fetched.Each(func(o kadm.OffsetResponse) {
			if g.Topics == nil || g.Topics(o.Topic) {
				topics[rename(o.Topic)] = true
			}
		})
	}
	var names []string
	for t := range topics {
		names = append(names, t)
	}
	ends, err := target.ListEndOffsets(ctx, names...)
	if err != nil {
		return res, fmt.Errorf("target end offsets: %w", err)
	}
	var checkpoints []Checkpoint
	for _, name := range groups {
		if d, ok := described[name]; ok && len(d.Members) > 0 {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %d member(s) on the target", name, len(d.Members)))
			continue
		}
		cur, err := target.FetchOffsets(ctx, name)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return res, fmt.Errorf("group %s: fetch target offsets: %w", name, err)
		}
		want := kadm.Offsets{}
		var cps []Checkpoint
		for _, o := range fetched[name].Fetched.Offsets().Sorted() {
			if o.At < 0 || (g.Topics != nil && !g.Topics(o.Topic)) {
				continue
			}
			tt := rename(o.Topic)
			end, ok := ends.Lookup(tt, o.Partition)
			if !ok || end.Err != nil {
				res.Uncopied++
				continue
			}
			part := Partition{o.Topic, o.Partition}
			at, err := m.Translate(part, o.At, end.Offset, func(from, to int64) (bool, error) {
				return HasData(ctx, g.Origin, part, from, to) // a partition that ends in markers is copied
			})
			if errors.Is(err, ErrNotMirrored) {
				res.Uncopied++
				continue
			}
			if err != nil {
				return res, fmt.Errorf("group %s: %w", name, err)
			}
			if c, ok := cur.Lookup(tt, o.Partition); ok && c.Err == nil && c.At >= at {
				continue
			}
			want.Add(kadm.Offset{Topic: tt, Partition: o.Partition, At: at, LeaderEpoch: -1, Metadata: o.Metadata})
			cps = append(cps, Checkpoint{Group: name, Partition: Partition{tt, o.Partition}, Upstream: o.At, Downstream: at, Metadata: o.Metadata})
		}
		if len(want) == 0 {
			continue
		}
		resp, err := target.CommitOffsets(ctx, name, want)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			// A consumer may have joined since: the broker refuses commits of a group it does
			// not own. Next round sees its members and skips it.
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: commit refused: %v", name, err))
			continue
		}
		res.Groups++
		res.Moved += len(cps)
		checkpoints = append(checkpoints, cps...)
	}
	if g.CheckpointTopic != "" {
		if err := WriteCheckpoints(ctx, g.Target, g.CheckpointTopic, checkpoints); err != nil {
			return res, err
		}
	}
	return res, nil
}
