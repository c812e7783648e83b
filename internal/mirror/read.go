package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scan reads partitions from their start offsets up to (not including) their end offsets,
// committed data records only, calling fn for each in offset order per partition. Control
// records (transaction markers) are fetched too, only to see that a partition whose last
// entries are markers has reached its end.
func scan(ctx context.Context, opts []kgo.Opt, starts, ends map[Partition]int64, fn func(Partition, *kgo.Record) error) error {
	starts, ends, err := clampToLog(ctx, opts, starts, ends)
	if err != nil {
		return err
	}
	pending := map[Partition]bool{}
	assign := map[string]map[int32]kgo.Offset{}
	for p, s := range starts {
		if s >= ends[p] {
			continue
		}
		pending[p] = true
		if assign[p.Topic] == nil {
			assign[p.Topic] = map[int32]kgo.Offset{}
		}
		assign[p.Topic][p.Partition] = kgo.NewOffset().At(s)
	}
	if len(pending) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(assign),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("read %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var done []Partition
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			p := Partition{fp.Topic, fp.Partition}
			if !pending[p] {
				return
			}
			for _, r := range fp.Records {
				if r.Offset >= ends[p] {
					done = append(done, p)
					return
				}
				if !r.Attrs.IsControl() && ferr == nil {
					ferr = fn(p, r) // the first error stops the read: fn sees no later record
				}
				if r.Offset+1 >= ends[p] {
					done = append(done, p)
					return
				}
			}
		})
		if ferr != nil {
			return ferr
		}
		for _, p := range done {
			if pending[p] {
				delete(pending, p)
				cl.RemoveConsumePartitions(map[string][]int32{p.Topic: {p.Partition}})
			}
		}
	}
	return nil
}

// clampToLog keeps a read inside the partitions' logs. Starts that retention or compaction
// has passed move up to the log start: a fetch below it would reset to the start and, on a
// partition emptied meanwhile, wait for records that never come. Ends past the last stable
// offset move down to it: a read would otherwise wait for records not yet written (a group
// committed past the end of its partition hung groups.translate).
func clampToLog(ctx context.Context, opts []kgo.Opt, starts, ends map[Partition]int64) (map[Partition]int64, map[Partition]int64, error) {
	var topics []string
	seen := map[string]bool{}
	for p := range starts {
		if !seen[p.Topic] {
			seen[p.Topic] = true
			topics = append(topics, p.Topic)
		}
	}
	if len(topics) == 0 {
		return starts, ends, nil
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	logStarts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, fmt.Errorf("log start offsets: %w", err)
	}
	logEnds, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, fmt.Errorf("log end offsets: %w", err)
	}
	outStarts := make(map[Partition]int64, len(starts))
	outEnds := make(map[Partition]int64, len(ends))
	for p, s := range starts {
		if o, ok := logStarts.Lookup(p.Topic, p.Partition); ok && o.Err == nil && o.Offset > s {
			s = o.Offset
		}
		outStarts[p] = s
		e := ends[p]
		if o, ok := logEnds.Lookup(p.Topic, p.Partition); ok && o.Err == nil && o.Offset < e {
			e = o.Offset
		}
		outEnds[p] = e
	}
	return outStarts, outEnds, nil
}

var errFound = errors.New("found")

// Each calls fn for every committed data record of partition p in [from, to), in offset
// order; the first error fn returns stops the read and is returned.
func Each(ctx context.Context, opts []kgo.Opt, p Partition, from, to int64, fn func(*kgo.Record) error) error {
	return scan(ctx, opts, map[Partition]int64{p: from}, map[Partition]int64{p: to}, func(_ Partition, r *kgo.Record) error { return fn(r) })
}

// HasData reports whether partition p of the origin holds a committed data record at an
// offset in [from, to).
func HasData(ctx context.Context, origin []kgo.Opt, p Partition, from, to int64) (bool, error) {
	err := scan(ctx, origin, map[Partition]int64{p: from}, map[Partition]int64{p: to}, func(Partition, *kgo.Record) error { return errFound })
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

// FirstRecord returns the first committed data record of partition p at or after offset
// from, or nil when there is none up to the last stable offset.
func FirstRecord(ctx context.Context, opts []kgo.Opt, p Partition, from int64) (*kgo.Record, error) {
	var rec *kgo.Record
	err := scan(ctx, opts, map[Partition]int64{p: from}, map[Partition]int64{p: 1 << 62}, func(_ Partition, r *kgo.Record) error {
		rec = r
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return nil, err
	}
	return rec, nil
}

// Digest is a partition's record count and an order-sensitive hash of each record's key,
// value, headers and timestamp.
type Digest struct {
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
	// First and Last are the first and last data record offsets seen (-1 when none).
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

type digester struct {
	untimed bool // leave timestamps out: a LogAppendTime topic stamps its own
	h       hash.Hash
	d       Digest
	buf     [8]byte
	scratch []byte
}

func newDigester(untimed bool) *digester {
	return &digester{untimed: untimed, h: sha256.New(), d: Digest{First: -1, Last: -1}}
}

func (g *digester) field(b []byte, null bool) {
	if null {
		binary.BigEndian.PutUint64(g.buf[:], ^uint64(0))
	} else {
		binary.BigEndian.PutUint64(g.buf[:], uint64(len(b)))
	}
	g.h.Write(g.buf[:])
	g.h.Write(b)
}

func (g *digester) add(r *kgo.Record) {
	g.field(r.Key, r.Key == nil)
	g.field(r.Value, r.Value == nil)
	binary.BigEndian.PutUint64(g.buf[:], uint64(len(r.Headers)))
	g.h.Write(g.buf[:])
	for _, h := range r.Headers {
		g.field([]byte(h.Key), false)
		g.field(h.Value, h.Value == nil)
	}
	if !g.untimed {
		binary.BigEndian.PutUint64(g.buf[:], uint64(r.Timestamp.UnixMilli()))
		g.h.Write(g.buf[:])
	}
	g.d.Records++
	g.d.Bytes += int64(len(r.Key) + len(r.Value))
	if g.d.First < 0 {
		g.d.First = r.Offset
	}
	g.d.Last = r.Offset
}

func (g *digester) sum() Digest {
	g.d.SHA256 = hex.EncodeToString(g.h.Sum(nil))
	return g.d
}

// Read counts what Digests has read so far; it may be read while Digests runs.
type Read struct {
	Records, Bytes atomic.Int64
}

// Digests reads partitions [start, end) and returns a digest of each: key, value, headers
// and timestamp, except the timestamps of the untimed partitions. Memory stays bounded by the
// fetch sizes, whatever the data size. read, when not nil, counts the records and key and
// value bytes read, for progress.
func Digests(ctx context.Context, opts []kgo.Opt, starts, ends map[Partition]int64, untimed map[Partition]bool, read *Read) (map[Partition]Digest, error) {
	gs := map[Partition]*digester{}
	for p := range starts {
		gs[p] = newDigester(untimed[p])
	}
	err := scan(ctx, opts, starts, ends, func(p Partition, r *kgo.Record) error {
		gs[p].add(r)
		if read != nil {
			read.Records.Add(1)
			read.Bytes.Add(int64(len(r.Key) + len(r.Value)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[Partition]Digest, len(gs))
	for p, g := range gs {
		out[p] = g.sum()
	}
	return out, nil
}

// Mismatch is the first place two partitions differ: the offsets of the differing records,
// or -1 on the side that ran out of records.
type Mismatch struct {
	Origin int64 `json:"origin"`
	Target int64 `json:"target"`
}

// FirstMismatch reads an origin and a target partition side by side and returns where they
// first differ (nil when they do not), timestamps compared unless untimed. Memory stays
// bounded: each side is streamed.
func FirstMismatch(ctx context.Context, origin, target []kgo.Opt, op, tp Partition, ostart, oend, tstart, tend int64, untimed bool) (*Mismatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		off int64
		sum [32]byte
	}
	stream := func(opts []kgo.Opt, p Partition, start, end int64, out chan<- item, errc chan<- error) {
		defer close(out)
		errc <- scan(ctx, opts, map[Partition]int64{p: start}, map[Partition]int64{p: end}, func(_ Partition, r *kgo.Record) error {
			g := newDigester(untimed)
			g.add(r)
			var it item
			it.off = r.Offset
			copy(it.sum[:], g.h.Sum(nil))
			select {
			case out <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
	oc, tc := make(chan item, 1024), make(chan item, 1024)
	errc := make(chan error, 2)
	go stream(origin, op, ostart, oend, oc, errc)
	go stream(target, tp, tstart, tend, tc, errc)
	for {
		a, aok := <-oc
		b, bok := <-tc
		switch {
		case !aok && !bok:
			for range 2 {
				if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
					return nil, err
				}
			}
			return nil, nil
		case !aok:
			return &Mismatch{Origin: -1, Target: b.off}, nil
		case !bok:
			return &Mismatch{Origin: a.off, Target: -1}, nil
		case a.sum != b.sum:
			return &Mismatch{Origin: a.off, Target: b.off}, nil
		}
	}
}
