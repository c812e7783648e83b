package flow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/internal/mm2topic"
	"github.com/ferryhq/ferry/runbook"
)

// Stranded is a run of records the old primary holds that never reached the cluster failed
// over to: written before the loss, not yet copied.
type Stranded struct {
	// Partition is where they are, on the old primary.
	mirror.Partition
	From, To int64 // offsets [From, To)
	// Records counts the data records among them (transaction markers aside).
	Records int64
	// Read counts, per group, those the group had read on the old primary before the loss:
	// processed once already, they are not lost for it.
	Read map[string]int64
}

func (s Stranded) String() string {
	out := fmt.Sprintf("%s: %d records at offsets %d-%d", s.Partition, s.Records, s.From, s.To-1)
	for _, g := range slices.Sorted(maps.Keys(s.Read)) {
		out += fmt.Sprintf(", %s had read %d", g, s.Read[g])
	}
	return out
}

// Failback is what PrepareFailback found and wrote.
type Failback struct {
	// Topic is this flow's offset-sync topic, on the target (the old primary).
	Topic      string
	Partitions int
	Syncs      int
	// ToCopy counts the origin records the flow will copy: what was written there since the
	// failover (less what an earlier run of the flow copied already).
	ToCopy   int64
	Stranded []Stranded
}

// StrandedRecords sums the stranded records.
func (b *Failback) StrandedRecords() int64 {
	var n int64
	for _, s := range b.Stranded {
		n += s.Records
	}
	return n
}

// PrepareFailback prepares this flow, from the cluster failed over to (origin) back to the old
// primary (target), to copy only what was written on the origin since the failover. The flow
// failed over from (old primary → origin, alias its origin alias) left its offset syncs on the
// origin; they say which origin records are copies. Where that copy stopped is found by
// comparing the records after its last sync on both sides: a copy is the old primary's
// records one for one, so the copied run is a prefix, found by binary search. What the old
// primary holds after it never reached the origin: stranded, reported per partition (with
// how many each group had read there), never copied back.
//
// It writes this flow's offset-sync topic on the target: the old syncs turned around, one
// naming the last record copied and, after stranded records, one placing the next origin
// record after them. The mirror then resumes at the first new record, and group positions
// translate exactly, past the stranded records. Run again (after a rollback, with records
// already copied back) it reads the boundary from the syncs it wrote and changes nothing.
//
// It needs identity naming and the flow failed over from written by Ferry's builtin mirror
// (one record for one; MirrorMaker 2 may copy a record twice).
func (f *Flow) PrepareFailback(ctx context.Context, alias string) (*Failback, error) {
	if f.Rep.Naming == runbook.NamingPrefixed {
		return nil, refuse("a failback copies topics back under their own names: naming identity, or unprefixed after a prefixed failover (the origin's %s.<topic> back to <topic>)", alias)
	}
	parts, counts, err := f.Partitions(ctx, nil)
	if err != nil {
		return nil, err
	}
	topics, targets := f.topicNames(counts)
	ologs, err := listLogs(ctx, f.Origin, "origin", topics)
	if err != nil {
		return nil, err
	}
	tlogs, err := listLogs(ctx, f.Target, "target", targets)
	if err != nil {
		return nil, err
	}
	fwd, err := mirror.LoadMapping(ctx, f.OriginOpts, mm2topic.OffsetSyncs(alias))
	if err != nil {
		return nil, err
	}
	prev, err := mirror.LoadMapping(ctx, f.TargetOpts, f.Rep.SyncTopic())
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(parts, func(p mirror.Partition) bool { return len(fwd.Syncs(f.targetPartition(p))) > 0 }) {
		return nil, refuse("the origin holds no offset syncs of a flow from the target (%s): nothing says what the origin copied; is %q the alias of the flow it was failed over from?", mm2topic.OffsetSyncs(alias), alias)
	}
	out := &Failback{Topic: f.Rep.SyncTopic()}
	var back []mirror.OffsetSync
	changed := false
	for i, p := range parts {
		f.progress(map[string]any{"status": fmt.Sprintf("partition %d of %d: %s", i+1, len(parts), p), "done": i, "total": len(parts)})
		os, oe, err := ologs.span(p)
		if err != nil {
			return nil, err
		}
		tp := f.targetPartition(p)
		ts, te, err := tlogs.span(tp)
		if errors.Is(err, errAbsent) {
			out.ToCopy += oe - os // born on the origin: the mirror creates it
			continue
		}
		if err != nil {
			return nil, err
		}
		b, err := f.failbackPartition(ctx, p, fwd.Syncs(f.targetPartition(p)), prev.Syncs(p), os, oe, ts, te)
		if err != nil {
			return nil, err
		}
		back = append(back, b.syncs...)
		changed = changed || b.changed
		if b.stranded.To > b.stranded.From {
			out.Stranded = append(out.Stranded, b.stranded)
		}
		out.ToCopy += max(0, oe-b.resume)
		out.Partitions++
	}
	if err := f.countStranded(ctx, out.Stranded); err != nil {
		return nil, err
	}
	if changed {
		if err := mirror.ReplaceSyncs(ctx, f.TargetOpts, out.Topic, back); err != nil {
			return nil, err
		}
	}
	out.Syncs = len(back)
	return out, nil
}

// partitionFailback is one partition's part of a failback.
type partitionFailback struct {
	syncs    []mirror.OffsetSync // this flow's syncs for the partition
	changed  bool                // syncs differ from what the target holds
	stranded Stranded
	resume   int64 // the origin offset the flow copies from
}

// failbackPartition works out one origin partition: fwd are the syncs of the flow failed over
// from (keyed by the old primary's partition), prev this flow's syncs already on the target;
// [os, oe) and [ts, te) the origin's and the target's logs.
func (f *Flow) failbackPartition(ctx context.Context, p mirror.Partition, fwd, prev []mirror.OffsetSync, os, oe, ts, te int64) (partitionFailback, error) {
	b := partitionFailback{stranded: Stranded{Partition: f.targetPartition(p)}}
	if len(fwd) == 0 {
		// Nothing of it reached the origin: every target record is stranded, every origin
		// record new.
		b.resume, b.stranded.From, b.stranded.To = os, ts, te
		if len(prev) > 0 && prev[0].Upstream == os {
			b.syncs, b.stranded.To = prev, prev[0].Downstream // prepared before
			b.resume, _ = mirror.NewMapping(prev).Resume(p, te)
			return b, nil
		}
		if te > ts {
			b.syncs = []mirror.OffsetSync{{Partition: p, Upstream: os, Downstream: te}}
		}
		b.changed = true
		return b, nil
	}
	turned := make([]mirror.OffsetSync, len(fwd))
	for i, s := range fwd {
		turned[i] = mirror.OffsetSync{Partition: p, Upstream: s.Downstream, Downstream: s.Upstream}
	}
	if len(prev) >= len(turned) && slices.Equal(prev[:len(turned)], turned) {
		return f.preparedBefore(p, turned, prev, te), nil
	}
	last := fwd[len(fwd)-1] // u on the target, d on the origin
	u, d := last.Upstream, last.Downstream
	same, err := f.copiedAt(ctx, p, d, u)
	if err != nil {
		return b, err
	}
	if !same {
		return b, refuse("%s: the last offset sync of the flow failed over from maps offset %d there to offset %d here, and they hold different records (or either is gone): this is not the flow the origin was failed over from", p, u, d)
	}
	// The copied run after the last sync is [0, k) on both sides; find k.
	n := min(te-u, oe-d)
	k := n
	if same, err = f.copiedAt(ctx, p, d+n-1, u+n-1); err != nil {
		return b, err
	} else if !same {
		lo, hi := int64(1), n-1 // copied at lo-1, not at hi
		for lo < hi {
			mid := lo + (hi-lo)/2
			c, err := f.copiedAt(ctx, p, d+mid, u+mid)
			if err != nil {
				return b, err
			}
			if c {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		k = lo
	}
	b.syncs = turned
	if k > 1 {
		b.syncs = append(b.syncs, mirror.OffsetSync{Partition: p, Upstream: d + k - 1, Downstream: u + k - 1})
	}
	b.resume = d + k
	b.stranded.From, b.stranded.To = u+k, te
	if te > u+k {
		b.syncs = append(b.syncs, mirror.OffsetSync{Partition: p, Upstream: d + k, Downstream: te})
	}
	b.changed = true
	return b, nil
}

// preparedBefore reads back what an earlier failback wrote for a partition (and what its
// mirror added): the stranded run is where the target's offsets jump ahead of the origin's,
// which only the sync placing new records after stranded ones does (gaps on the origin make
// the origin's jump instead).
func (f *Flow) preparedBefore(p mirror.Partition, turned, prev []mirror.OffsetSync, te int64) partitionFailback {
	b := partitionFailback{syncs: prev, stranded: Stranded{Partition: f.targetPartition(p)}}
	b.resume, _ = mirror.NewMapping(prev).Resume(p, te)
	for i := len(turned); i < len(prev); i++ {
		a, s := prev[i-1], prev[i]
		if s.Downstream-a.Downstream > s.Upstream-a.Upstream {
			b.stranded.From = a.Downstream + (s.Upstream - a.Upstream)
			b.stranded.To = s.Downstream
			break
		}
	}
	return b
}

// copiedAt reports whether origin offset o holds a copy of target offset t: both records
// there, with the same key, value, headers and (unless either cluster stamps its own)
// timestamp.
func (f *Flow) copiedAt(ctx context.Context, p mirror.Partition, o, t int64) (bool, error) {
	or, err := mirror.FirstRecord(ctx, f.OriginOpts, p, o)
	if err != nil {
		return false, fmt.Errorf("%s: read origin: %w", p, err)
	}
	tr, err := mirror.FirstRecord(ctx, f.TargetOpts, f.targetPartition(p), t)
	if err != nil {
		return false, fmt.Errorf("%s: read target: %w", p, err)
	}
	if or == nil || tr == nil || or.Offset != o || tr.Offset != t || !mirror.SameContent(or, tr) {
		return false, nil
	}
	logTime := or.Attrs.TimestampType() == 1 || tr.Attrs.TimestampType() == 1
	return logTime || or.Timestamp.Equal(tr.Timestamp), nil
}

// countStranded counts the data records of each stranded run, and, per group with a
// position on the target, those it had read.
func (f *Flow) countStranded(ctx context.Context, runs []Stranded) error {
	if len(runs) == 0 {
		return nil
	}
	positions := map[string]kadm.OffsetResponses{}
	listed, err := f.Target.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list target groups: %w", err)
	}
	for _, g := range listed.Groups() {
		if !f.Rep.Groups.SelectGroup(g) {
			continue
		}
		offs, err := f.Target.FetchOffsets(ctx, g)
		if err != nil {
			return fmt.Errorf("positions of %s on the target: %w", g, err)
		}
		positions[g] = offs
	}
	for i := range runs {
		s := &runs[i]
		s.Records, s.Read = 0, map[string]int64{}
		err := mirror.Each(ctx, f.TargetOpts, s.Partition, s.From, s.To, func(r *kgo.Record) error {
			s.Records++
			for g, offs := range positions {
				if o, ok := offs.Lookup(s.Topic, s.Partition.Partition); ok && o.Err == nil && r.Offset < o.At {
					s.Read[g]++
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("count stranded records of %s: %w", s.Partition, err)
		}
	}
	return nil
}

// Header keys on records kept aside: where each came from.
const (
	StrandedFromHeader   = "ferry.stranded.from"
	StrandedOffsetHeader = "ferry.stranded.offset"
)

// KeepStranded copies stranded records, on the target, into a topic beside theirs (its name
// plus suffix, same partition, same key, value, headers and timestamp, plus headers naming
// where each came from), for a person to replay. Run again, it continues after the last
// record it kept. It returns the records kept, all runs counted.
func (f *Flow) KeepStranded(ctx context.Context, runs []Stranded, suffix string) (int64, error) {
	if len(runs) == 0 {
		return 0, nil
	}
	var names []string
	for _, s := range runs {
		if !slices.Contains(names, s.Topic) {
			names = append(names, s.Topic)
		}
	}
	// Kept aside as their topic is kept: same partitions, replicas and settings.
	want, err := mirror.OriginTopics(ctx, f.Target, names, mirror.ReplicasOrigin)
	if err != nil {
		return 0, err
	}
	rename := func(t string) string { return t + suffix }
	if err := mirror.EnsureTopics(ctx, f.Target, want, rename); err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), f.TargetOpts...), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var kept int64
	for _, s := range runs {
		aside := mirror.Partition{Topic: rename(s.Topic), Partition: s.Partition.Partition}
		from, err := f.keptUpTo(ctx, aside, s.From)
		if err != nil {
			return kept, err
		}
		var batch []*kgo.Record
		flush := func() error {
			err := cl.ProduceSync(ctx, batch...).FirstErr()
			batch = batch[:0]
			return err
		}
		err = mirror.Each(ctx, f.TargetOpts, s.Partition, from, s.To, func(r *kgo.Record) error {
			h := append(slices.Clip(r.Headers),
				kgo.RecordHeader{Key: StrandedFromHeader, Value: []byte(s.Partition.String())},
				kgo.RecordHeader{Key: StrandedOffsetHeader, Value: strconv.AppendInt(nil, r.Offset, 10)})
			batch = append(batch, &kgo.Record{Topic: aside.Topic, Partition: aside.Partition, Key: r.Key, Value: r.Value, Headers: h, Timestamp: r.Timestamp})
			if len(batch) == 500 {
				return flush()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = flush()
		}
		if err != nil {
			return kept, fmt.Errorf("keep stranded records of %s in %s: %w", s.Partition, aside, err)
		}
		kept += s.Records
	}
	return kept, nil
}

// keptUpTo is the offset after the last stranded record already kept in aside, from when
// none is.
func (f *Flow) keptUpTo(ctx context.Context, aside mirror.Partition, from int64) (int64, error) {
	// A new client: one that looked for the topic before it was created keeps saying it is
	// not there for a while (cached metadata), and everything would be kept again.
	cl, err := kgo.NewClient(f.TargetOpts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, aside.Topic)
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", aside.Topic, err)
	}
	e, ok := ends.Lookup(aside.Topic, aside.Partition)
	if !ok || e.Err != nil || e.Offset == 0 {
		return from, nil
	}
	r, err := mirror.FirstRecord(ctx, f.TargetOpts, aside, e.Offset-1)
	if err != nil || r == nil {
		return 0, fmt.Errorf("last kept record of %s: %v", aside, err)
	}
	for _, h := range r.Headers {
		if h.Key == StrandedOffsetHeader {
			if at, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return max(from, at+1), nil
			}
		}
	}
	return 0, refuse("%s holds records Ferry did not keep there (no %s header): name another strandedSuffix", aside, StrandedOffsetHeader)
}
