package flow

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// Parity is what a parity check compared.
type Parity struct {
	Partitions int
	Records    int64
	// Table has a row per partition compared, sorted by origin partition.
	Table []ParityRow
}

// ParityRow is one partition's comparison: both sides held Records records whose digest
// (SHA-256 of keys, values, headers and timestamps in order) was Digest.
type ParityRow struct {
	Origin, Target string
	Records        int64
	Digest         string
	// Timestamps is false where the target's broker stamps records (LogAppendTime).
	Timestamps bool
}

// span is where a partition's comparison starts and ends on both sides.
type span struct {
	origin, target         mirror.Partition
	oFrom, oTo, tFrom, tTo int64
}

// VerifyParity compares each mirrored partition's records on both sides: count and an
// order-sensitive digest of key, value, headers and timestamp. On a target topic with
// message.timestamp.type=LogAppendTime the broker stamps each record as it arrives, so the
// origin's timestamps cannot survive there: its partitions are compared without them. A
// difference is an *ActionError naming the first differing offsets of up to ten partitions.
func (f *Flow) VerifyParity(ctx context.Context, sel *runbook.Patterns) (*Parity, error) {
	parts, counts, err := f.Partitions(ctx, sel)
	if err != nil || len(parts) == 0 {
		return &Parity{}, err
	}
	spans, err := f.spans(ctx, parts, counts)
	if err != nil {
		return nil, err
	}
	stamped, err := f.logAppendTopics(ctx, spans)
	if err != nil {
		return nil, err
	}
	os, oe, ts, te := map[mirror.Partition]int64{}, map[mirror.Partition]int64{}, map[mirror.Partition]int64{}, map[mirror.Partition]int64{}
	ou, tu := map[mirror.Partition]bool{}, map[mirror.Partition]bool{}
	for _, s := range spans {
		os[s.origin], oe[s.origin], ts[s.target], te[s.target] = s.oFrom, s.oTo, s.tFrom, s.tTo
		ou[s.origin], tu[s.target] = stamped[s.target.Topic], stamped[s.target.Topic]
	}
	// Progress: records and bytes read of both sides, against the offsets to read (markers
	// and compacted gaps make the offsets an upper bound).
	var toRead int64
	for _, s := range spans {
		toRead += s.oTo - s.oFrom + s.tTo - s.tFrom
	}
	var origin, target mirror.Read
	stop := f.every(time.Second, func() {
		done := origin.Records.Load() + target.Records.Load()
		f.progress(map[string]any{"phase": "compare", "done": min(done, toRead), "total": toRead, "bytes": origin.Bytes.Load() + target.Bytes.Load()})
	})
	defer stop()
	od, err := mirror.Digests(ctx, f.OriginOpts, os, oe, ou, &origin)
	if err != nil {
		return nil, fmt.Errorf("read origin: %w", err)
	}
	td, err := mirror.Digests(ctx, f.TargetOpts, ts, te, tu, &target)
	if err != nil {
		return nil, fmt.Errorf("read target: %w", err)
	}
	var bad []string
	res := &Parity{Partitions: len(parts)}
	for _, s := range spans {
		a, b := od[s.origin], td[s.target]
		res.Records += a.Records
		if a.Records == b.Records && a.SHA256 == b.SHA256 {
			res.Table = append(res.Table, ParityRow{Origin: s.origin.String(), Target: s.target.String(),
				Records: a.Records, Digest: a.SHA256, Timestamps: !tu[s.target]})
			continue
		}
		where := ""
		if len(bad) < 10 {
			mm, err := mirror.FirstMismatch(ctx, f.OriginOpts, f.TargetOpts, s.origin, s.target, s.oFrom, s.oTo, s.tFrom, s.tTo, tu[s.target])
			if err != nil {
				return nil, err
			}
			if mm != nil {
				where = fmt.Sprintf(", first difference at origin offset %d / target offset %d (-1: no record)", mm.Origin, mm.Target)
			}
		}
		bad = append(bad, fmt.Sprintf("%s: origin %d records (offsets %d..%d), target %s %d records (offsets %d..%d)%s",
			s.origin, a.Records, a.First, a.Last, s.target, b.Records, b.First, b.Last, where))
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("and %d more", len(bad)-10))
		}
		return nil, refuse("parity check failed for %d partition(s): %s", len(bad), strings.Join(bad, "; "))
	}
	sort.Slice(res.Table, func(i, j int) bool { return res.Table[i].Origin < res.Table[j].Origin })
	return res, nil
}

// logAppendTopics are the target topics whose broker stamps records as they arrive.
func (f *Flow) logAppendTopics(ctx context.Context, spans []span) (map[string]bool, error) {
	var topics []string
	seen := map[string]bool{}
	for _, s := range spans {
		if !seen[s.target.Topic] {
			seen[s.target.Topic] = true
			topics = append(topics, s.target.Topic)
		}
	}
	rcs, err := f.Target.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe target topic configs: %w", err)
	}
	out := map[string]bool{}
	for _, rc := range rcs {
		for _, kv := range rc.Configs {
			if kv.Key == "message.timestamp.type" && kv.Value != nil && *kv.Value == "LogAppendTime" {
				out[rc.Name] = true
			}
		}
	}
	return out, nil
}

// spans finds where each partition's comparison runs: up to the origin's last committed
// offset and the target's end, from where the mirror started on each side (Ferry's mirror
// syncs its first record; MirrorMaker 2 may not, and copies from the log start).
func (f *Flow) spans(ctx context.Context, parts []mirror.Partition, counts map[string]int32) ([]span, error) {
	topics, targets := f.topicNames(counts)
	lso, err := listOffsets(ctx, f.Origin, "origin", logStable, topics)
	if err != nil {
		return nil, err
	}
	ostarts, err := listOffsets(ctx, f.Origin, "origin", logStart, topics)
	if err != nil {
		return nil, err
	}
	tlogs, err := listLogs(ctx, f.Target, "target", targets)
	if err != nil {
		return nil, err
	}
	m, err := mirror.LoadMapping(ctx, f.TargetOpts, f.Rep.SyncTopic())
	if err != nil {
		return nil, err
	}
	out := make([]span, len(parts))
	for i, part := range parts {
		tp := f.targetPartition(part)
		s := span{origin: part, target: tp}
		// An offset a broker could not list (a leader moving, a topic just created) must not
		// read as an empty range: parity would pass on nothing. It is an error, retried.
		oTo, err1 := lso.at(part)
		os, err2 := ostarts.at(part)
		ts, tTo, err3 := tlogs.span(tp)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		s.oTo, s.tTo = oTo, tTo
		if syncs := m.Syncs(part); f.Exact && len(syncs) > 0 {
			s.oFrom, s.tFrom = syncs[0].Upstream, syncs[0].Downstream
		} else {
			// MirrorMaker 2's data, or nothing mirrored here: both whole logs, so an origin
			// partition with records and no copy fails.
			s.oFrom, s.tFrom = os, ts
		}
		out[i] = s
	}
	return out, nil
}
