package flow

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/internal/mm2topic"
)

// Reversed is what Reverse wrote.
type Reversed struct {
	// Topic is the offset-sync topic of the flow back, on this flow's origin.
	Topic      string
	Partitions int
	Syncs      int
}

// Reverse prepares the flow back (target → origin, the target's name as its alias) to
// continue after what this flow copied instead of copying it again: a cluster restored from
// its backup is protected again by mirroring only what is written on it from now on. It
// writes this flow's offset syncs turned around, plus one naming the last record copied, as
// the whole content of the flow back's offset-sync topic on the origin (the syncs there, if
// any, map a cluster that is gone).
//
// It needs the copy complete (mirror.wait maxLag 0; the target may have taken new writes
// since, the flow back copies them), the origin written by a mirror that does not write
// transactions (its last offset is a record), and both sides still holding the last record
// copied, which it compares before writing anything.
func (f *Flow) Reverse(ctx context.Context) (*Reversed, error) {
	parts, counts, err := f.Partitions(ctx, nil)
	if err != nil {
		return nil, err
	}
	topics, targets := f.topicNames(counts)
	oends, err := listOffsets(ctx, f.Origin, "origin", logEnd, topics)
	if err != nil {
		return nil, err
	}
	tends, err := listOffsets(ctx, f.Target, "target", logEnd, targets)
	if err != nil {
		return nil, err
	}
	m, err := mirror.LoadMapping(ctx, f.TargetOpts, f.Rep.SyncTopic())
	if err != nil {
		return nil, err
	}
	out := &Reversed{Topic: mm2topic.OffsetSyncs(f.Rep.Target)}
	var back []mirror.OffsetSync
	for _, p := range parts {
		tp := f.targetPartition(p)
		oe, err1 := oends.at(p)
		te, err2 := tends.at(tp)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		syncs := m.Syncs(p)
		if oe == 0 {
			continue // nothing to copy here: the flow back starts from the target's beginning
		}
		at, err := m.Translate(p, oe-1, te, nil) // the last origin record's copy
		if errors.Is(err, mirror.ErrNotMirrored) {
			return nil, refuse("%s: not all copied (origin end %d, target end %d): wait for the mirror (mirror.wait maxLag 0) before reversing it", p, oe, te)
		}
		if err != nil {
			return nil, err
		}
		last, err := f.lastPair(ctx, p, tp, oe-1, at)
		if err != nil {
			return nil, err
		}
		for _, s := range syncs {
			back = append(back, mirror.OffsetSync{Partition: tp, Upstream: s.Downstream, Downstream: s.Upstream})
		}
		back = append(back, last)
		// Where the target's next record goes: after records the flow skipped (a failback's
		// stranded ones), not after the last one copied. The target may have taken writes
		// since the copy (apps resumed on it): the flow back starts with them.
		if next, err := m.Translate(p, oe, te, nil); err == nil && next > at+1 {
			back = append(back, mirror.OffsetSync{Partition: tp, Upstream: next, Downstream: oe})
		}
		out.Partitions++
	}
	if err := mirror.ReplaceSyncs(ctx, f.OriginOpts, out.Topic, back); err != nil {
		return nil, err
	}
	out.Syncs = len(back)
	return out, nil
}

// lastPair checks that the last offsets of an origin and a target partition hold the same
// record, and returns the sync of the flow back naming it.
func (f *Flow) lastPair(ctx context.Context, p, tp mirror.Partition, originLast, targetLast int64) (mirror.OffsetSync, error) {
	read := func(opts []kgo.Opt, part mirror.Partition, at int64) (*kgo.Record, error) {
		r, err := mirror.FirstRecord(ctx, opts, part, at)
		if err != nil || r == nil || r.Offset != at {
			return nil, refuse("%s: offset %d is not a record (a transaction marker, or gone): the flow back cannot start from it", part, at)
		}
		return r, nil
	}
	o, err := read(f.OriginOpts, p, originLast)
	if err != nil {
		return mirror.OffsetSync{}, err
	}
	t, err := read(f.TargetOpts, tp, targetLast)
	if err != nil {
		return mirror.OffsetSync{}, err
	}
	if !mirror.SameContent(o, t) {
		return mirror.OffsetSync{}, refuse("%s offset %d and %s offset %d hold different records: the copy is not what the flow back would continue from", p, originLast, tp, targetLast)
	}
	return mirror.OffsetSync{Partition: tp, Upstream: targetLast, Downstream: originLast}, nil
}
