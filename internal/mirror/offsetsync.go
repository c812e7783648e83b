// Package mirror is Ferry's built-in replication engine: it copies records from an origin
// cluster to a target cluster partition by partition, preserving key, value, headers and
// timestamp, and keeps an exact map from origin offsets to target offsets in
// MirrorMaker-2-compatible offset-sync records.
//
// The map is exact because the mirror is the only writer of each target partition and writes
// idempotently, so target offsets advance by one per copied record; wherever origin offsets do
// not (the first record, aborted transactions, transaction markers, compaction gaps, records
// deleted by retention) the mirror writes an offset sync before copying the record after the
// gap. Between two syncs both sides advance together, so any origin offset translates.
package mirror

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partition names one topic partition: kadm's, with a String for messages and heartbeats.
type Partition kadm.Partition

func (p Partition) String() string { return fmt.Sprintf("%s/%d", p.Topic, p.Partition) }

// OffsetSync says: origin record Upstream was copied to target offset Downstream. Topic and
// Partition are the origin's. Encoded exactly as MirrorMaker 2 does.
type OffsetSync struct {
	Partition
	Upstream   int64
	Downstream int64
}

// Record encodes the sync: key topic (int16-length string) + partition (int32), value
// upstream (int64) + downstream (int64), big-endian, as Kafka's protocol schemas do.
func (s OffsetSync) Record(topic string) *kgo.Record {
	key := make([]byte, 2+len(s.Topic)+4)
	binary.BigEndian.PutUint16(key, uint16(len(s.Topic)))
	copy(key[2:], s.Topic)
	binary.BigEndian.PutUint32(key[2+len(s.Topic):], uint32(s.Partition.Partition))
	val := make([]byte, 16)
	binary.BigEndian.PutUint64(val, uint64(s.Upstream))
	binary.BigEndian.PutUint64(val[8:], uint64(s.Downstream))
	return &kgo.Record{Topic: topic, Partition: 0, Key: key, Value: val}
}

// DecodeOffsetSync reads a sync written by Ferry or MirrorMaker 2.
func DecodeOffsetSync(r *kgo.Record) (OffsetSync, error) {
	k, v := r.Key, r.Value
	if len(k) < 2 {
		return OffsetSync{}, errors.New("offset sync: short key")
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) != 2+n+4 || len(v) != 16 {
		return OffsetSync{}, fmt.Errorf("offset sync: bad lengths (key %d, value %d)", len(k), len(v))
	}
	return OffsetSync{
		Partition:  Partition{Topic: string(k[2 : 2+n]), Partition: int32(binary.BigEndian.Uint32(k[2+n:]))},
		Upstream:   int64(binary.BigEndian.Uint64(v)),
		Downstream: int64(binary.BigEndian.Uint64(v[8:])),
	}, nil
}

// Mapping holds every offset sync of a flow, by origin partition, sorted by upstream offset.
type Mapping struct {
	syncs map[Partition][]OffsetSync
}

// ErrNotMirrored means an origin offset lies beyond what the mirror has copied.
var ErrNotMirrored = errors.New("not mirrored yet")

// LoadMapping reads the whole sync topic on the target. A missing topic is an empty mapping.
// target holds the target cluster's connection options.
func LoadMapping(ctx context.Context, target []kgo.Opt, syncTopic string) (*Mapping, error) {
	m := &Mapping{syncs: map[Partition][]OffsetSync{}}
	admCl, err := kgo.NewClient(target...)
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, syncTopic)
	if err != nil {
		return nil, fmt.Errorf("offset syncs %s: %w", syncTopic, err)
	}
	end, ok := ends.Lookup(syncTopic, 0)
	if !ok || end.Err != nil || end.Offset == 0 {
		return m, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), target...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{syncTopic: {0: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return nil, fmt.Errorf("read offset syncs %s: %w", syncTopic, err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if s, err := DecodeOffsetSync(r); err == nil {
				m.add(s)
			}
			if r.Offset+1 >= end.Offset {
				done = true
			}
		})
		if done {
			return m, nil
		}
	}
}

// NewMapping is the mapping of syncs, read in order as LoadMapping reads its topic.
func NewMapping(syncs []OffsetSync) *Mapping {
	m := &Mapping{syncs: map[Partition][]OffsetSync{}}
	for _, s := range syncs {
		m.add(s)
	}
	return m
}

// add reads the sync topic as a log: a mirror that restarts writes a sync at the first
// record it copies, and that sync replaces every earlier one from the same origin offset on
// (written before the crash for records that may never have reached the target).
func (m *Mapping) add(s OffsetSync) {
	l := m.syncs[s.Partition]
	i := sort.Search(len(l), func(i int) bool { return l[i].Upstream >= s.Upstream })
	m.syncs[s.Partition] = append(l[:i], s)
}

// Syncs returns a partition's syncs, oldest first.
func (m *Mapping) Syncs(p Partition) []OffsetSync { return m.syncs[p] }

// Resume returns the origin offset the mirror continues from, given the target partition's
// end offset: everything before it is on the target. ok is false when nothing was copied.
func (m *Mapping) Resume(p Partition, targetEnd int64) (int64, bool) {
	l := m.syncs[p]
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].Downstream <= targetEnd {
			return l[i].Upstream + (targetEnd - l[i].Downstream), true
		}
	}
	return 0, false
}

// Translate maps an origin offset (a committed consumer position: the next record to read)
// to the target offset of the same next record. targetEnd is the target partition's end.
//
// An offset inside a gap (a transaction marker, an aborted or compacted record) maps to the
// target offset of the first record after the gap. An offset past the last copied record
// returns ErrNotMirrored unless originHasData says no data record lies between the last
// copied one and it (a partition that ends in transaction markers), in which case it maps
// to targetEnd.
func (m *Mapping) Translate(p Partition, origin, targetEnd int64, originHasData func(from, to int64) (bool, error)) (int64, error) {
	l := m.syncs[p]
	if len(l) == 0 {
		return 0, fmt.Errorf("%s: %w (no offset sync)", p, ErrNotMirrored)
	}
	i := sort.Search(len(l), func(i int) bool { return l[i].Upstream > origin }) - 1
	if i < 0 {
		// Before the first copied record: those records had left the origin when the mirror
		// started; the next record this consumer can read is the first copied one.
		return l[0].Downstream, nil
	}
	s := l[i]
	runEnd := targetEnd
	if i+1 < len(l) {
		runEnd = l[i+1].Downstream
	}
	k := origin - s.Upstream
	if s.Downstream+k <= runEnd {
		return s.Downstream + k, nil
	}
	if i+1 < len(l) {
		return l[i+1].Downstream, nil // inside the gap before the next sync
	}
	copiedUpTo := s.Upstream + (runEnd - s.Downstream)
	if originHasData != nil {
		has, err := originHasData(copiedUpTo, origin)
		if err != nil {
			return 0, err
		}
		if !has {
			return targetEnd, nil
		}
	}
	return 0, fmt.Errorf("%s: origin offset %d: %w (copied up to %d)", p, origin, ErrNotMirrored, copiedUpTo)
}

// ReplaceSyncs makes syncs the whole content of an offset-sync topic on the cluster opts
// reaches: the topic is deleted (what it held belonged to a flow whose origin is gone) and
// created again, then the syncs are written in order. Running it again writes the same.
func ReplaceSyncs(ctx context.Context, opts []kgo.Opt, topic string, syncs []OffsetSync) error {
	a, err := newAdmin(opts)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.adm.DeleteTopics(ctx, topic); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("delete offset-sync topic %s: %w", topic, err)
	}
	// Kafka deletes a topic in the background: creating it again fails until it is gone.
	for deadline := time.Now().Add(time.Minute); ; {
		err := ensureSyncTopic(ctx, a, topic)
		if err == nil {
			if empty, err := syncTopicEmpty(ctx, a, topic); err == nil && empty {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("offset-sync topic %s: not recreated empty within a minute: %v", topic, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	recs := make([]*kgo.Record, len(syncs))
	for i, s := range syncs {
		recs[i] = s.Record(topic)
	}
	if err := a.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write offset syncs to %s: %w", topic, err)
	}
	return nil
}

func syncTopicEmpty(ctx context.Context, a *admin, topic string) (bool, error) {
	ends, err := a.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	empty := true
	ends.Each(func(o kadm.ListedOffset) { empty = empty && o.Err == nil && o.Offset == 0 })
	return empty && len(ends[topic]) > 0, nil
}
