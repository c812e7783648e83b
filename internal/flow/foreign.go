package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferryhq/ferry/internal/mirror"
)

// ForeignData lists the target partitions of the flow that already hold records the mirror
// did not write: records there and no offset sync of this flow for the partition, or syncs
// that name records the origin does not hold (another origin's: the cluster lost before a
// restore). A target restored from a backup, or written by someone else, is such a place: a
// mirror started on it would append the origin's history after what is there, or resume at
// offsets that mean nothing here. One line per partition.
func (f *Flow) ForeignData(ctx context.Context) ([]string, error) {
	parts, counts, err := f.Partitions(ctx, nil)
	if err != nil || len(parts) == 0 {
		return nil, err
	}
	_, targets := f.topicNames(counts)
	tlogs, err := listLogs(ctx, f.Target, "target", targets)
	if err != nil {
		return nil, err
	}
	m, err := mirror.LoadMapping(ctx, f.TargetOpts, f.Rep.SyncTopic())
	if err != nil {
		return nil, err
	}
	var found []string
	for _, p := range parts {
		tp := f.targetPartition(p)
		s, e, err := tlogs.span(tp)
		if errors.Is(err, errAbsent) {
			continue // the mirror creates it
		}
		if err != nil {
			return nil, err
		}
		if e <= s {
			continue
		}
		syncs := m.Syncs(p)
		if len(syncs) == 0 {
			found = append(found, fmt.Sprintf("%s: %d records", tp, e-s))
			continue
		}
		if why, err := f.foreignSync(ctx, p, syncs[len(syncs)-1], e); err != nil {
			return nil, err
		} else if why != "" {
			found = append(found, fmt.Sprintf("%s: %d records, %s", tp, e-s, why))
		}
	}
	return found, nil
}

// foreignSync checks a partition's last offset sync against both clusters: the record it
// names on the origin must be the one at its target offset. It says why not, "" when it is
// (or when retention took either record, or the sync places the next origin record at the
// target's end, as a failback's does: nothing to compare).
func (f *Flow) foreignSync(ctx context.Context, p mirror.Partition, s mirror.OffsetSync, targetEnd int64) (string, error) {
	o, err := mirror.FirstRecord(ctx, f.OriginOpts, p, s.Upstream)
	if err != nil {
		return "", fmt.Errorf("%s: read origin: %w", p, err)
	}
	if o == nil && s.Downstream == targetEnd {
		return "", nil
	}
	if o == nil {
		return fmt.Sprintf("its offset syncs name origin offset %d, past the origin's end (another origin's syncs)", s.Upstream), nil
	}
	t, err := mirror.FirstRecord(ctx, f.TargetOpts, f.targetPartition(p), s.Downstream)
	if err != nil {
		return "", fmt.Errorf("%s: read target: %w", p, err)
	}
	if o.Offset != s.Upstream || t == nil || t.Offset != s.Downstream {
		return "", nil
	}
	if !mirror.SameContent(o, t) {
		return fmt.Sprintf("its offset syncs map origin offset %d to a different record at %d (another origin's syncs)", s.Upstream, s.Downstream), nil
	}
	return "", nil
}
