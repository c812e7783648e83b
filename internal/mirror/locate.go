package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recordSum is the digest of one record's key, value, headers and timestamp.
func recordSum(r *kgo.Record) string {
	g := newDigester(false)
	g.add(r)
	return g.sum().SHA256
}

// Locate finds, by content, the target offset of the first committed data record at or after
// an origin offset: for data another engine copied. MirrorMaker 2 writes offset syncs
// sparsely — a burst keeps only the latest pending sync per partition, so even with
// offset.lag.max=0 the sync at a gap (an aborted transaction, a marker) may never be written —
// and interpolating between syncs could then be off. Locate reads the origin record, takes
// the nearest syncs around it as bounds (MirrorMaker 2 keeps order), and scans the target
// between them for the record with the same key, value, headers and timestamp, starting at
// the first target offset stamped at or after the record's timestamp when the broker names
// one between the bounds (a hint: a miss from there is scanned again from the lower sync). It
// is exact unless identical records (all four equal) lie between where the scan starts and
// the record.
//
// An origin offset at the end (or with only transaction markers after it) maps to targetEnd.
func Locate(ctx context.Context, origin, target []kgo.Opt, m *Mapping, p, tp Partition, at, targetEnd int64) (int64, error) {
	rec, err := FirstRecord(ctx, origin, p, at)
	if err != nil {
		return 0, fmt.Errorf("%s: read origin at %d: %w", p, at, err)
	}
	if rec == nil {
		return targetEnd, nil // nothing but markers (or nothing) from here to the end
	}
	lower, upper := int64(0), targetEnd
	l := m.Syncs(p)
	i := sort.Search(len(l), func(i int) bool { return l[i].Upstream > rec.Offset })
	if i > 0 {
		lower = l[i-1].Downstream
		if l[i-1].Upstream == rec.Offset {
			return lower, nil // a sync names the record itself
		}
	}
	if i < len(l) {
		upper = l[i].Downstream
	}
	byTime, err := firstAtOrAfter(ctx, target, tp, rec.Timestamp)
	if err != nil {
		return 0, err
	}
	want := recordSum(rec)
	find := func(from, to int64) (int64, error) {
		found := int64(-1)
		err := scan(ctx, target, map[Partition]int64{tp: from}, map[Partition]int64{tp: to}, func(_ Partition, r *kgo.Record) error {
			if recordSum(r) == want {
				found = r.Offset
				return errFound
			}
			return nil
		})
		if err != nil && !errors.Is(err, errFound) {
			return 0, fmt.Errorf("%s: read target: %w", tp, err)
		}
		return found, nil
	}
	// The timestamp narrows the scan when it can; a broker's time lookup is only a hint
	// (producers' clocks, a time index behind the log), so a miss after it is scanned again
	// between the syncs alone.
	found := int64(-1)
	if byTime > lower && byTime < upper {
		if found, err = find(byTime, upper); err != nil {
			return 0, err
		}
	}
	if found < 0 {
		if found, err = find(lower, upper); err != nil {
			return 0, err
		}
	}
	// MirrorMaker 2 copies at least once: a task restarted before it committed copies again,
	// and syncs of the two copies interleave, so the upper sync may come before the record's
	// only copy. Last, look past it to the end.
	if found < 0 && upper < targetEnd {
		if found, err = find(upper, targetEnd); err != nil {
			return 0, err
		}
	}
	if found < 0 {
		return 0, fmt.Errorf("%s: origin offset %d: %w (its record is not on the target between offsets %d and %d)", p, rec.Offset, ErrNotMirrored, lower, targetEnd)
	}
	return found, nil
}

// firstAtOrAfter is the target offset of the first record stamped at or after ts, -1 when
// the broker knows none.
func firstAtOrAfter(ctx context.Context, target []kgo.Opt, tp Partition, ts time.Time) (int64, error) {
	cl, err := kgo.NewClient(target...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	byTime, err := kadm.NewClient(cl).ListOffsetsAfterMilli(ctx, ts.UnixMilli(), tp.Topic)
	if err != nil {
		return 0, fmt.Errorf("%s: target offsets by time: %w", tp, err)
	}
	if o, ok := byTime.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil {
		return o.Offset, nil
	}
	return -1, nil
}

// SameContent reports whether two records hold the same key, value and headers (timestamps
// aside: a LogAppendTime target stamps its own).
func SameContent(a, b *kgo.Record) bool {
	ga, gb := newDigester(true), newDigester(true)
	ga.add(a)
	gb.add(b)
	return ga.sum().SHA256 == gb.sum().SHA256
}
