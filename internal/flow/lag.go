package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/internal/mm2topic"
)

// markersOnly is how small a gap must be before lag looks whether it holds only transaction
// markers (the "lag stuck at 1" trap): reading more would cost more than it tells.
const markersOnly = 1000

// Lag measures, per origin partition, the committed data records the mirror has not copied,
// and their sum. Trailing transaction markers do not count.
func (f *Flow) Lag(ctx context.Context) (int64, map[string]int64, error) {
	parts, counts, err := f.Partitions(ctx, nil)
	if err != nil || len(parts) == 0 {
		return 0, nil, err
	}
	topics, targets := f.topicNames(counts)
	lso, err := listOffsets(ctx, f.Origin, "origin", logStable, topics)
	if err != nil {
		return 0, nil, err
	}
	starts, err := listOffsets(ctx, f.Origin, "origin", logStart, topics)
	if err != nil {
		return 0, nil, err
	}
	ends, err := listOffsets(ctx, f.Target, "target", logEnd, targets)
	if err != nil {
		return 0, nil, err
	}
	m, err := mirror.LoadMapping(ctx, f.TargetOpts, f.Rep.SyncTopic())
	if err != nil {
		return 0, nil, err
	}
	var total int64
	per := map[string]int64{}
	for _, p := range parts {
		o, err := lso.at(p)
		if err != nil {
			return 0, nil, err
		}
		pos, err := f.copiedUpTo(m, starts, ends, p)
		if err != nil {
			return 0, nil, err
		}
		l, err := dataBetween(ctx, f.OriginOpts, p, pos, o)
		if err != nil {
			return 0, nil, err
		}
		per[p.String()] = l
		total += l
	}
	return total, per, nil
}

// copiedUpTo is the origin offset partition p's copy resumes from: after the last record on
// the target, or the origin's log start when nothing is copied.
func (f *Flow) copiedUpTo(m *mirror.Mapping, starts, tends offsets, p mirror.Partition) (int64, error) {
	e, err := tends.at(f.targetPartition(p))
	if err == nil {
		if r, ok := m.Resume(p, e); ok {
			return r, nil
		}
	} else if !errors.Is(err, errAbsent) {
		return 0, err
	}
	return starts.at(p)
}

// dataBetween counts the offsets from..to as records to read, unless a short gap holds only
// transaction markers.
func dataBetween(ctx context.Context, opts []kgo.Opt, p mirror.Partition, from, to int64) (int64, error) {
	l := max(to-from, 0)
	if l > 0 && l <= markersOnly {
		has, err := mirror.HasData(ctx, opts, p, from, to)
		if err != nil || !has {
			return 0, err
		}
	}
	return l, nil
}

// GroupsLag is what each group on one cluster has not read yet: committed data records past
// its committed positions, summed over its partitions. A group that never committed counts
// nothing.
func GroupsLag(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, groups []string) (map[string]int64, error) {
	behind := make(map[string]int64, len(groups))
	for _, g := range groups {
		behind[g] = 0
		committed, err := adm.FetchOffsets(ctx, g)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return nil, fmt.Errorf("group %s: %w", g, err)
		}
		topics := committed.Offsets().TopicsSet().Topics()
		if len(topics) == 0 {
			continue
		}
		ends, err := listOffsets(ctx, adm, "group "+g, logStable, topics)
		if err != nil {
			return nil, err
		}
		for _, o := range committed.Offsets().Sorted() {
			p := mirror.Partition{Topic: o.Topic, Partition: o.Partition}
			e, err := ends.at(p)
			if errors.Is(err, errAbsent) {
				continue // a position on a topic deleted since: nothing to read there
			}
			if err != nil {
				return nil, err
			}
			l, err := dataBetween(ctx, opts, p, o.At, e)
			if err != nil {
				return nil, err
			}
			behind[g] += l
		}
	}
	return behind, nil
}

// HeartbeatAge is how long ago the flow's newest heartbeat on the target was written (by
// Ferry's mirror or MirrorMaker 2's heartbeat connector); found is false when the target
// holds none of this flow.
func (f *Flow) HeartbeatAge(ctx context.Context, now time.Time) (age time.Duration, found bool, err error) {
	ends, err := f.Target.ListEndOffsets(ctx, mm2topic.Heartbeats)
	if err != nil {
		return 0, false, fmt.Errorf("target heartbeats end offsets: %w", err)
	}
	at := map[mirror.Partition]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			at[mirror.Partition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
	})
	if len(at) == 0 {
		return 0, false, nil
	}
	hb, found, err := mirror.LastHeartbeat(ctx, f.TargetOpts, at, f.Rep.OriginAlias())
	if err != nil || !found {
		return 0, false, err
	}
	return max(now.Sub(hb.Timestamp), 0), true, nil
}
