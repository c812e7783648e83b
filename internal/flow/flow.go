// Package flow measures and moves one replication flow, origin to target, whatever engine
// copies it: lag, the exact translation of group positions, parity, the target's topics and a
// standby's drill report. Plain functions over kadm clients, tested on kfake; the activities
// wrap them as steps.
//
// Failures a person must act on (an active group, a position that would move back, a parity
// difference, a drill over its limits) are *ActionError; any other error may heal on retry.
package flow

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// Flow is a replication's two clusters, connected.
type Flow struct {
	Rep                    *runbook.Replication
	OriginOpts, TargetOpts []kgo.Opt
	Origin, Target         *kadm.Client
	// Exact says the engine writes an offset sync at its first record and at every gap (the
	// builtin mirror), so the offset map alone translates and parity starts at the first
	// sync; otherwise (MirrorMaker 2) records are located by content and parity compares
	// from the log starts.
	Exact bool
	// Progress, when set, hears how far long work has come (the activities heartbeat it).
	Progress func(details map[string]any)
}

// ActionError is a failure retrying cannot fix: someone must act first.
type ActionError struct{ Msg string }

func (e *ActionError) Error() string { return e.Msg }

func refuse(format string, args ...any) error {
	return &ActionError{Msg: fmt.Sprintf(format, args...)}
}

func (f *Flow) progress(details map[string]any) {
	if f.Progress != nil {
		f.Progress(details)
	}
}

// every calls report now and every interval until stop, which reports once more.
func (f *Flow) every(interval time.Duration, report func()) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			report()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished; report() }
}

// Partitions lists the partitions of the origin topics the replication copies (only those sel
// selects too, when given), and the partition count of each topic.
func (f *Flow) Partitions(ctx context.Context, sel *runbook.Patterns) ([]mirror.Partition, map[string]int32, error) {
	topics, err := f.Origin.ListTopics(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list origin topics: %w", err)
	}
	var out []mirror.Partition
	counts := map[string]int32{}
	for _, t := range topics.Sorted() {
		if t.IsInternal || !f.Rep.Replicates(t.Topic) || (sel != nil && !sel.Select(t.Topic)) {
			continue
		}
		counts[t.Topic] = int32(len(t.Partitions))
		for p := range int32(len(t.Partitions)) {
			out = append(out, mirror.Partition{Topic: t.Topic, Partition: p})
		}
	}
	return out, counts, nil
}

// topicNames returns the origin topics of counts and their target names, both sorted by
// origin name.
func (f *Flow) topicNames(counts map[string]int32) (origin, target []string) {
	for t := range counts {
		origin = append(origin, t)
	}
	sort.Strings(origin)
	for _, t := range origin {
		target = append(target, f.Rep.TargetTopic(t))
	}
	return origin, target
}

// targetPartition is where an origin partition lives on the target.
func (f *Flow) targetPartition(p mirror.Partition) mirror.Partition {
	return mirror.Partition{Topic: f.Rep.TargetTopic(p.Topic), Partition: p.Partition}
}

// Groups lists the origin's groups that sel selects (the replication's groups when nil), sorted.
func (f *Flow) Groups(ctx context.Context, sel *runbook.Patterns) ([]string, error) {
	if sel == nil {
		sel = &f.Rep.Groups
	}
	listed, err := f.Origin.ListGroups(ctx)
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
func (f *Flow) translate(ctx context.Context, m *mirror.Mapping, part mirror.Partition, at, targetEnd int64) (int64, error) {
	if f.Exact {
		return m.Translate(part, at, targetEnd, func(from, to int64) (bool, error) {
			return mirror.HasData(ctx, f.OriginOpts, part, from, to)
		})
	}
	return mirror.Locate(ctx, f.OriginOpts, f.TargetOpts, m, part, f.targetPartition(part), at, targetEnd)
}
