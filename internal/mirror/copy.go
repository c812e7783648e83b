package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// Config says what one mirror copies.
type Config struct {
	// Origin and Target are connection options (seeds, TLS, SASL) of the two clusters.
	Origin, Target []kgo.Opt
	// Select chooses origin topics; internal topics are never copied.
	Select func(topic string) bool
	// Rename gives the target topic of an origin topic (identity when nil).
	Rename func(topic string) string
	// SyncTopic on the target holds the offset syncs (see SyncTopic).
	SyncTopic string
	// Replicas is the replication factor of topics the mirror creates: ReplicasOrigin (each
	// origin topic's), a number, or "" (the target brokers' default). They get the origin
	// topic's copyable configs too, as topics.sync gives them.
	Replicas string
	// Owns, when set, limits the copy to the partitions it owns (one shard's, see ShardOf);
	// every selected partition when nil. Shards share the target's topics and sync topic.
	Owns func(Partition) bool
	// Discover is how often new topics and partitions are looked for; 10s when 0.
	Discover time.Duration
	// Heartbeat, when set, names the flow (origin alias, target alias) in MirrorMaker 2
	// heartbeats written to the target's heartbeats topic every HeartbeatInterval (1s when 0).
	Heartbeat         *Heartbeat
	HeartbeatInterval time.Duration
	// Progress, when set, is called every ProgressInterval (1s when 0).
	Progress         func(Progress)
	ProgressInterval time.Duration
	// StallAfter is how long records may wait with none copied before Progress says the
	// copy stalled; DefaultStallAfter when 0.
	StallAfter time.Duration
	// Lanes is how many producers write to the target at once, each carrying whole partitions;
	// DefaultLanes when 0.
	Lanes int
}

// DefaultLanes is how many producers a copy writes with. A broker handles one connection's
// requests one at a time, so a single producer waits on the target broker's append of each
// request; two connections keep two appends going. Apache Kafka 4.1 to 4.1 on 2 cores, five
// rounds taking turns: two lanes copied 1.1-1.7x one lane's throughput in every round, four
// were no faster than two.
const DefaultLanes = 2

// Progress is what a running mirror reports.
type Progress struct {
	Records    int64               `json:"records"`
	Bytes      int64               `json:"bytes"`
	Partitions int                 `json:"partitions"`
	Lag        map[Partition]int64 `json:"-"`
	TotalLag   int64               `json:"lag"`
	// Behind lists the partitions furthest behind, worst first (at most five).
	Behind []PartitionLag `json:"behind,omitempty"`
	// Rate is records copied per second since the last report.
	Rate float64 `json:"rate"`
	// Stalled is set when records wait to be copied and none was for Config.StallAfter.
	Stalled *Stall `json:"stalled,omitempty"`
	// Each is every partition's part, for metrics.
	Each []PartitionProgress `json:"-"`
	// HeartbeatAt is when the target last acknowledged a heartbeat (zero: none yet).
	HeartbeatAt time.Time `json:"-"`
}

// PartitionProgress is one partition's part of a running copy.
type PartitionProgress struct {
	Partition
	// Records and Bytes (keys and values) handed to the target since this copy started.
	Records, Bytes int64
	// Lag is the records on the origin not yet copied.
	Lag int64
	// RPO is about the age of the oldest origin record not yet on the target: the time since
	// the last copied record was written, or since the copy first saw the partition behind if
	// that is later; 0 when caught up.
	RPO time.Duration
}

// PartitionLag is how far one partition is behind: records not yet copied, and how long ago
// the last copied record was written on the origin (its age on the target now).
type PartitionLag struct {
	Partition Partition
	Records   int64
	Age       time.Duration
	// Next is the origin offset of the next record to copy.
	Next int64
}

func (l PartitionLag) String() string {
	return fmt.Sprintf("%s: %d records, %s", l.Partition, l.Records, l.Age.Round(time.Millisecond))
}

type partState struct {
	next     int64 // origin offset after the last copied record
	seen     int64 // origin offset after the last record or marker read
	down     int64 // target offset the next copied record gets
	needSync bool
	hwm      int64
	lastTS   time.Time // timestamp of the last copied record
	records  int64     // records and bytes taken to copy since the copier started
	// behind is when the copy first saw records here it had not copied, since it last had
	// none to copy (zero while caught up).
	behind time.Time
	bytes  int64
	limit  int32  // the largest record batch the target topic takes
	topic  string // the target topic (Rename, once per partition rather than per record)
	// lane is the producer that writes this partition: always the same one, so its records
	// reach the target in order.
	lane int
}

// copier is one running copy: its clients, what it knows of each partition, its counters.
type copier struct {
	cfg            Config
	origin, target *admin
	consumer       *kgo.Client
	// lanes are the target producers (Config.Lanes); the first also writes the offset syncs
	// and heartbeats.
	lanes   []*kgo.Client
	mapping *Mapping

	mu         sync.Mutex // guards state's hwm and stall for progress
	state      map[Partition]*partState
	limits     sync.Map // target topic -> int32: the largest record batch it takes
	produceErr atomic.Pointer[error]
	// heartbeatAt is the time of the last heartbeat the target acknowledged.
	heartbeatAt atomic.Pointer[time.Time]
	records     atomic.Int64
	bytes       atomic.Int64
	faults      clientFaults
	stall       stallWatch // guarded by mu
}

// Run copies until ctx is cancelled (then it flushes and returns nil) or an error stops it.
// Started again after any crash, it continues from what the target holds: no record is
// copied twice and none is skipped.
func Run(ctx context.Context, cfg Config) error {
	c := &copier{cfg: cfg.withDefaults(), state: map[Partition]*partState{}}
	c.stall.after = c.cfg.StallAfter
	defer c.close()
	if err := c.start(ctx); err != nil {
		return err
	}
	if c.cfg.Progress != nil {
		// Reported from its own goroutine: a copy blocked on a target that is away (its
		// producer buffer full) still reports, and says it stalled.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(c.cfg.ProgressInterval)
			defer t.Stop()
			for {
				select {
				case <-rctx.Done():
					return
				case <-t.C:
					c.report()
				}
			}
		}()
		defer func() { cancel(); <-done }()
	}
	return c.loop(ctx)
}

func (cfg Config) withDefaults() Config {
	if cfg.Rename == nil {
		cfg.Rename = func(t string) string { return t }
	}
	if cfg.Select == nil {
		cfg.Select = func(string) bool { return true }
	}
	if cfg.Discover == 0 {
		cfg.Discover = 10 * time.Second
	}
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = time.Second
	}
	if cfg.StallAfter == 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = DefaultLanes
	}
	return cfg
}

// start connects, prepares the target's bookkeeping topics, loads the offset map and finds
// where each partition resumes.
func (c *copier) start(ctx context.Context) error {
	var err error
	if c.origin, err = newAdmin(c.cfg.Origin); err != nil {
		return err
	}
	if c.target, err = newAdmin(c.cfg.Target); err != nil {
		return err
	}
	if err := ensureSyncTopic(ctx, c.target, c.cfg.SyncTopic); err != nil {
		return err
	}
	if c.cfg.Heartbeat != nil {
		compact := "compact"
		if _, err := c.target.adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &compact}, mm2topic.Heartbeats); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create %s topic: %w", mm2topic.Heartbeats, err)
		}
	}
	if c.mapping, err = LoadMapping(ctx, c.cfg.Target, c.cfg.SyncTopic); err != nil {
		return err
	}
	c.consumer, err = kgo.NewClient(append(append([]kgo.Opt(nil), c.cfg.Origin...),
		kgo.WithHooks(c.faults.hook("origin")),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(8<<20),
		kgo.KeepControlRecords(), // markers are skipped below; seeing them tells lag is 0
	)...)
	if err != nil {
		return err
	}
	for range c.cfg.Lanes {
		lane, err := kgo.NewClient(append(append([]kgo.Opt(nil), c.cfg.Target...),
			kgo.WithHooks(c.faults.hook("target")),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerLinger(2*time.Millisecond),
			kgo.MaxBufferedRecords(max(50_000/c.cfg.Lanes, 1_000)), // as many in all as one lane held
			kgo.MaxBufferedBytes(maxRecordBytes),                   // memory stays bounded whatever the record size
			kgo.RecordRetries(1<<30),
			// Batches as large as each target topic takes (max.message.bytes, read when its
			// partitions are discovered): a record the origin took fits, or fails at once.
			kgo.ProducerBatchMaxBytesFn(c.batchLimit),
		)...)
		if err != nil {
			return err
		}
		c.lanes = append(c.lanes, lane)
	}
	if c.cfg.Heartbeat != nil {
		// The first heartbeat is on the target before the first record: whoever sees records
		// copied (a standby watch right after the first copy) sees the flow's heartbeat too.
		now := time.Now()
		if err := c.lanes[0].ProduceSync(ctx, c.heartbeatRecord(now)).FirstErr(); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		c.heartbeatAt.Store(&now)
	}
	return c.discover(ctx)
}

func (c *copier) close() {
	for _, cl := range append(c.lanes, c.consumer) {
		if cl != nil {
			cl.Close()
		}
	}
	for _, a := range []*admin{c.target, c.origin} {
		if a != nil {
			a.Close()
		}
	}
}

// discover starts consuming partitions that appeared since the last look.
func (c *copier) discover(ctx context.Context) error {
	added, err := c.discoverPartitions(ctx)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		c.consumer.AddConsumePartitions(added)
	}
	return nil
}

// loop polls, copies and does the periodic chores until ctx ends or an error stops it.
func (c *copier) loop(ctx context.Context) error {
	lastDiscover, lastHeartbeat := time.Now(), time.Now() // start wrote the first heartbeat
	for {
		if e := c.produceErr.Load(); e != nil {
			return *e
		}
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fs := c.consumer.PollRecords(pollCtx, 50_000)
		cancel()
		if ctx.Err() != nil {
			return c.stop()
		}
		if err := fetchError(fs); err != nil {
			return err
		}
		syncs, out := c.take(fs)
		// A sync must be on the target before the record after the gap it describes.
		if len(syncs) > 0 {
			if err := c.lanes[0].ProduceSync(ctx, syncs...).FirstErr(); err != nil {
				if ctx.Err() != nil {
					continue
				}
				return fmt.Errorf("write offset syncs to %s: %w", c.cfg.SyncTopic, err)
			}
		}
		if err := c.send(out); err != nil {
			return err
		}
		if c.cfg.Heartbeat != nil && time.Since(lastHeartbeat) > c.cfg.HeartbeatInterval {
			lastHeartbeat = time.Now()
			c.heartbeat(lastHeartbeat)
		}
		if time.Since(lastDiscover) > c.cfg.Discover {
			lastDiscover = time.Now()
			if err := c.discover(ctx); err != nil {
				if ctx.Err() != nil {
					return c.stop() // stopped while looking: a clean stop
				}
				return err
			}
		}
	}
}

// stop flushes what was handed to the lanes and reports a last time.
func (c *copier) stop() error {
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	if err := c.flush(fctx); err != nil {
		return fmt.Errorf("flush on stop: %w", err)
	}
	c.report()
	if e := c.produceErr.Load(); e != nil {
		return *e
	}
	return nil
}

// fetchError is the first fetch error other than the poll's own timeout.
func fetchError(fs kgo.Fetches) error {
	var fetchErr error
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && fetchErr == nil {
			fetchErr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
		}
	})
	return fetchErr
}

// flush waits until every lane has written what it was handed.
func (c *copier) flush(ctx context.Context) error {
	for _, lane := range c.lanes {
		if err := lane.Flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// outRecord is a record to write and the lane that writes its partition.
type outRecord struct {
	*kgo.Record
	lane int
}

// take turns fetched records into target records, with an offset sync before each record
// after a gap (the first record, aborted transactions, markers, compaction, retention).
func (c *copier) take(fs kgo.Fetches) (syncs []*kgo.Record, out []outRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		part := Partition{fp.Topic, fp.Partition}
		st := c.state[part]
		if st == nil {
			return
		}
		if fp.LastStableOffset > 0 {
			st.hwm = fp.LastStableOffset
		} else if fp.HighWatermark > st.hwm {
			st.hwm = fp.HighWatermark
		}
		for _, r := range fp.Records {
			if r.Offset < max(st.next, st.seen) {
				continue // already copied (a re-fetch)
			}
			st.seen = r.Offset + 1
			if r.Attrs.IsControl() {
				continue // a marker is a gap: the next record's offset will not be next
			}
			if st.needSync || r.Offset != st.next {
				syncs = append(syncs, OffsetSync{Partition: part, Upstream: r.Offset, Downstream: st.down}.Record(c.cfg.SyncTopic))
				st.needSync = false
			}
			// The fetched record itself goes to the target under its target topic: a new
			// record each would be the copy's largest allocation. Key, value, headers,
			// timestamp and partition stay; the producer overwrites offset, producer id and
			// attributes when the target acknowledges it.
			next := r.Offset + 1
			r.Topic, r.Context = st.topic, nil
			if recordBytes(r)+batchOverhead > int(st.limit) {
				// It may not fit: keep its origin offset for the error that names it.
				r.Context = context.WithValue(context.Background(), originOffsetKey{}, r.Offset)
			}
			out = append(out, outRecord{r, st.lane})
			st.next = next
			st.down++
			st.lastTS = r.Timestamp
			st.records++
			st.bytes += int64(len(r.Key) + len(r.Value))
		}
		switch {
		case st.hwm <= max(st.next, st.seen):
			st.behind = time.Time{}
		case st.behind.IsZero():
			st.behind = now
		}
	})
	return syncs, out
}

// send hands records to their lanes in order. A record that may not fit its target topic
// goes alone, once everything before it is written: if the target refuses it, nothing after
// it is written either (the target's offsets must stay the origin's order, gaps synced).
func (c *copier) send(out []outRecord) error {
	for _, o := range out {
		r, lane := o.Record, c.lanes[o.lane]
		if r.Context == nil {
			lane.Produce(context.Background(), r, c.produced)
			continue
		}
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := c.flush(fctx)
		if err == nil {
			err = lane.ProduceSync(fctx, r).FirstErr()
		}
		cancel()
		c.produced(r, err)
		if e := c.produceErr.Load(); e != nil {
			return *e
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// produced counts a copied record, or keeps the first error that stops the copy.
func (c *copier) produced(r *kgo.Record, err error) {
	if err == nil { // every record but a failed one: nothing to inspect
		c.records.Add(1)
		c.bytes.Add(int64(len(r.Key) + len(r.Value)))
		return
	}
	if errors.Is(err, kerr.MessageTooLarge) {
		at, _ := r.Context.Value(originOffsetKey{}).(int64)
		var e error = &RecordTooLargeError{Topic: r.Topic, Partition: r.Partition, OriginOffset: at,
			Bytes: recordBytes(r), Limit: c.batchLimit(r.Topic), Cause: err}
		c.produceErr.CompareAndSwap(nil, &e)
		return
	}
	if refusal(err) {
		var e error = &RecordRefusedError{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Timestamp: r.Timestamp, Cause: err}
		c.produceErr.CompareAndSwap(nil, &e)
		return
	}
	e := fmt.Errorf("produce to %s/%d: %w", r.Topic, r.Partition, err)
	c.produceErr.CompareAndSwap(nil, &e)
}

// heartbeatRecord is the flow's MirrorMaker 2 heartbeat written at a time.
func (c *copier) heartbeatRecord(at time.Time) *kgo.Record {
	hb := *c.cfg.Heartbeat
	hb.Timestamp = at
	return hb.Record()
}

// heartbeat writes a heartbeat of the flow after what the first lane holds.
func (c *copier) heartbeat(at time.Time) {
	c.lanes[0].Produce(context.Background(), c.heartbeatRecord(at), func(_ *kgo.Record, err error) {
		if err != nil {
			e := fmt.Errorf("heartbeat: %w", err)
			c.produceErr.CompareAndSwap(nil, &e)
			return
		}
		c.heartbeatAt.Store(&at)
	})
}

func (c *copier) report() {
	if c.cfg.Progress == nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	p := Progress{Records: c.records.Load(), Bytes: c.bytes.Load(), Partitions: len(c.state)}
	p.Lag, p.TotalLag, p.Behind = lagOf(c.state, now)
	p.Each = eachOf(c.state, p.Lag, now)
	if at := c.heartbeatAt.Load(); at != nil {
		p.HeartbeatAt = *at
	}
	var since time.Time
	var buffered int64
	for _, lane := range c.lanes {
		buffered += lane.BufferedProduceRecords()
	}
	p.Rate, since = c.stall.observe(now, p.Records, p.TotalLag+buffered > 0)
	c.mu.Unlock()
	switch {
	case !since.IsZero():
		p.Stalled = &Stall{Since: since, Cause: c.faults.cause()}
		if len(p.Behind) > 0 {
			b := p.Behind[0]
			p.Stalled.At = fmt.Sprintf("%s@%d", b.Partition, b.Next)
		}
	case p.Rate > 0:
		c.faults.forget()
	}
	c.cfg.Progress(p)
}

func eachOf(state map[Partition]*partState, lags map[Partition]int64, now time.Time) []PartitionProgress {
	each := make([]PartitionProgress, 0, len(state))
	for part, st := range state {
		pp := PartitionProgress{Partition: part, Records: st.records, Bytes: st.bytes, Lag: lags[part]}
		if pp.Lag > 0 {
			// The oldest record not copied was written after the last one copied, and not
			// much before the copy first saw it: a long-quiet partition's new record is new.
			if since := later(st.lastTS, st.behind); !since.IsZero() {
				pp.RPO = max(now.Sub(since), 0)
			}
		}
		each = append(each, pp)
	}
	return each
}

// lagOf measures each partition's lag, the total, and the five partitions furthest behind.
func lagOf(state map[Partition]*partState, now time.Time) (map[Partition]int64, int64, []PartitionLag) {
	lags := make(map[Partition]int64, len(state))
	var total int64
	var behind []PartitionLag
	for part, st := range state {
		lag := max(st.hwm-max(st.next, st.seen), 0)
		lags[part] = lag
		total += lag
		if lag > 0 {
			var age time.Duration
			if !st.lastTS.IsZero() {
				age = now.Sub(st.lastTS)
			}
			behind = append(behind, PartitionLag{Partition: part, Records: lag, Age: age, Next: max(st.next, st.seen)})
		}
	}
	sort.Slice(behind, func(i, j int) bool { return behind[i].Records > behind[j].Records })
	if len(behind) > 5 {
		behind = behind[:5]
	}
	return lags, total, behind
}

type admin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

func newAdmin(opts []kgo.Opt) (*admin, error) {
	// Metadata cached for 5 s (the default) hid a topic the mirror had just created from its
	// own next listing for as long: a new topic waited 5 s to be copied.
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), kgo.MetadataMinAge(250*time.Millisecond),
		// A partition just created is unknown to its leader for a few ms: the default first
		// backoff (a quarter second) was half the time a new topic took to start copying.
		kgo.RetryBackoffFn(func(tries int) time.Duration { return min(10*time.Millisecond<<min(tries, 9), 5*time.Second) }))...)
	if err != nil {
		return nil, err
	}
	return &admin{cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (a *admin) Close() { a.cl.Close() }

// ErrSyncTopicCompacted means the offset-sync topic exists with cleanup.policy=compact.
var ErrSyncTopicCompacted = errors.New("the offset-sync topic is compacted")

func ensureSyncTopic(ctx context.Context, a *admin, topic string) error {
	// Never compacted: Ferry's translation needs every sync, not only the newest.
	retention := "-1"
	policy := "delete"
	_, err := a.adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &policy, "retention.ms": &retention}, topic)
	if err == nil {
		return nil
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create offset-sync topic %s: %w", topic, err)
	}
	// MirrorMaker 2 creates it compacted: the log cleaner would keep one sync per partition
	// and the map of an earlier gap would be lost.
	rcs, err := a.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe offset-sync topic %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return fmt.Errorf("describe offset-sync topic %s: %w", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && strings.Contains(*c.Value, "compact") {
			return fmt.Errorf("%w: %s (cleanup.policy=%s; MirrorMaker 2 creates it so): the builtin mirror needs every sync kept; set cleanup.policy=delete and retention.ms=-1 on it, or delete it if no MirrorMaker 2 flow uses it", ErrSyncTopicCompacted, topic, *c.Value)
		}
	}
	return nil
}

// discoverPartitions finds selected origin partitions not yet mirrored, makes sure the
// target has them, and returns where to start consuming each.
func (c *copier) discoverPartitions(ctx context.Context) (map[string]map[int32]kgo.Offset, error) {
	origin, target, cfg, mapping, state := c.origin, c.target, c.cfg, c.mapping, c.state
	topics, err := origin.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list origin topics: %w", err)
	}
	var fresh []Partition
	want := map[string]int32{}
	for _, t := range topics.Sorted() {
		if t.IsInternal || t.Err != nil || !cfg.Select(t.Topic) || t.Topic == cfg.SyncTopic {
			continue
		}
		want[t.Topic] = int32(len(t.Partitions))
		for p := range t.Partitions {
			part := Partition{t.Topic, p}
			if state[part] == nil && (cfg.Owns == nil || cfg.Owns(part)) {
				fresh = append(fresh, part)
			}
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	if err := c.ensureTopics(ctx, want, fresh); err != nil {
		return nil, err
	}
	var targetTopics, originTopics []string
	seen := map[string]bool{}
	for _, p := range fresh {
		if !seen[p.Topic] {
			seen[p.Topic] = true
			originTopics = append(originTopics, p.Topic)
			targetTopics = append(targetTopics, cfg.Rename(p.Topic))
		}
	}
	if err := c.readLimits(ctx, targetTopics); err != nil {
		return nil, err
	}
	// Topics just created may take a moment to appear in metadata.
	var ends kadm.ListedOffsets
	for try := 0; ; try++ {
		ends, err = target.adm.ListEndOffsets(ctx, targetTopics...)
		if err == nil && allListed(ends, fresh, cfg.Rename) {
			break
		}
		if try == 50 {
			if err == nil {
				err = errors.New("partitions missing from metadata")
			}
			return nil, fmt.Errorf("target end offsets: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(10*time.Millisecond<<min(try, 4), 100*time.Millisecond)): // new topics show up in tens of ms
		}
	}
	starts, err := origin.adm.ListStartOffsets(ctx, originTopics...)
	if err != nil {
		return nil, fmt.Errorf("origin start offsets: %w", err)
	}
	out := map[string]map[int32]kgo.Offset{}
	for _, p := range fresh {
		end, ok := ends.Lookup(cfg.Rename(p.Topic), p.Partition)
		if !ok || end.Err != nil {
			return nil, fmt.Errorf("target end offset of %s/%d: %v", cfg.Rename(p.Topic), p.Partition, end.Err)
		}
		next, copied := mapping.Resume(p, end.Offset)
		if !copied {
			s, ok := starts.Lookup(p.Topic, p.Partition)
			if !ok || s.Err != nil {
				return nil, fmt.Errorf("origin start offset of %s: %v", p, s.Err)
			}
			next = s.Offset
		}
		// Lanes in turn, in the order partitions are found: as even as they can be.
		state[p] = &partState{next: next, down: end.Offset, needSync: true, limit: c.batchLimit(cfg.Rename(p.Topic)), topic: cfg.Rename(p.Topic),
			lane: len(state) % cfg.Lanes}
		if out[p.Topic] == nil {
			out[p.Topic] = map[int32]kgo.Offset{}
		}
		out[p.Topic][p.Partition] = kgo.NewOffset().At(next)
	}
	return out, nil
}

// ensureTopics creates the topics of fresh partitions on the target as the origin has them,
// and grows the others to the origin's partition counts.
func (c *copier) ensureTopics(ctx context.Context, counts map[string]int32, fresh []Partition) error {
	var names []string
	for _, p := range fresh {
		if !slices.Contains(names, p.Topic) {
			names = append(names, p.Topic)
		}
	}
	specs, err := OriginTopics(ctx, c.origin.adm, names, c.cfg.Replicas)
	if err != nil {
		return err
	}
	for t, n := range counts {
		if _, ok := specs[t]; !ok {
			specs[t] = TopicSpec{Partitions: n, Replicas: -1}
		}
	}
	return EnsureTopics(ctx, c.target.adm, specs, c.cfg.Rename)
}

func allListed(ends kadm.ListedOffsets, parts []Partition, rename func(string) string) bool {
	for _, p := range parts {
		if o, ok := ends.Lookup(rename(p.Topic), p.Partition); !ok || o.Err != nil {
			return false
		}
	}
	return true
}

// maxRecordBytes is the largest record the mirror copies: what each lane buffers at most.
const maxRecordBytes = 64 << 20

// defaultBatchBytes is Kafka's default max.message.bytes, for a topic whose limit is unknown.
const defaultBatchBytes = 1_048_588

// batchOverhead is more than a batch's and a record's headers add to its key, value and
// headers: a record within it of its topic's limit may not fit.
const batchOverhead = 1024

// originOffsetKey keys a record's origin offset in its context.
type originOffsetKey struct{}

// readLimits learns the largest record batch each target topic takes (its effective
// max.message.bytes: set on the topic, or the brokers' message.max.bytes).
func (c *copier) readLimits(ctx context.Context, topics []string) error {
	rcs, err := c.target.adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return fmt.Errorf("describe target topic configs: %w", err)
	}
	for _, rc := range rcs {
		for _, kv := range rc.Configs {
			if kv.Key != "max.message.bytes" || kv.Value == nil {
				continue
			}
			if n, err := strconv.ParseInt(*kv.Value, 10, 32); err == nil && n > 0 {
				c.limits.Store(rc.Name, int32(min(n, maxRecordBytes)))
			}
		}
	}
	return nil
}

// batchLimit is the largest record batch the producer builds for a target topic.
func (c *copier) batchLimit(topic string) int32 {
	if v, ok := c.limits.Load(topic); ok {
		return v.(int32)
	}
	return defaultBatchBytes
}

// recordBytes is about what a record weighs in a batch: its key, value and headers.
func recordBytes(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// RecordTooLargeError is a record the target cannot take: its topic's max.message.bytes (or
// the brokers' message.max.bytes) is lower than the origin's. Retrying cannot help.
type RecordTooLargeError struct {
	Topic        string // on the target
	Partition    int32
	OriginOffset int64
	Bytes        int
	Limit        int32
	Cause        error
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("a record of %d bytes (origin offset %d, for %s/%d) is more than target topic %s takes (max.message.bytes %d): "+
		"raise max.message.bytes on the target topic (and message.max.bytes on its brokers if lower), or run topics.sync before the mirror, which copies it (%v)",
		e.Bytes, e.OriginOffset, e.Topic, e.Partition, e.Topic, e.Limit, e.Cause)
}

func (e *RecordTooLargeError) Unwrap() error { return e.Cause }

// refusal reports a produce error that refuses the records themselves, for good. Errors of
// the producer's own state (sequence numbers, epochs after a broker restart) are not among
// them: the mirror restarts and resumes from the target.
func refusal(err error) bool {
	for _, code := range []error{kerr.InvalidTimestamp, kerr.InvalidRecord, kerr.CorruptMessage, kerr.PolicyViolation,
		kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed} {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}

// RecordRefusedError is a batch of records the target refused for good: a timestamp outside
// the target topic's window, a record its validation refuses, a missing permission. Retrying cannot help; the copy stops before it,
// so nothing after it is written. Key and Timestamp are the first record of the batch.
type RecordRefusedError struct {
	Topic     string // on the target
	Partition int32
	Key       []byte
	Timestamp time.Time
	Cause     error
}

func (e *RecordRefusedError) Error() string {
	hint := "change what the target refuses, or leave the topic out of the replication"
	if errors.Is(e.Cause, kerr.InvalidTimestamp) {
		hint = "the target topic's message.timestamp.before.max.ms or message.timestamp.after.max.ms (or its brokers' log.message.timestamp.*) keeps records stamped so far from now out: raise it on the target topic, or leave the topic out of the replication"
	}
	return fmt.Sprintf("target topic %s/%d refused the batch of the record stamped %s with key %q (%v): %s",
		e.Topic, e.Partition, e.Timestamp.UTC().Format(time.RFC3339Nano), shortKey(e.Key), e.Cause, hint)
}

func (e *RecordRefusedError) Unwrap() error { return e.Cause }

// shortKey is a key for an error message, cut to a readable length.
func shortKey(k []byte) string {
	if len(k) > 64 {
		return string(k[:64]) + "…"
	}
	return string(k)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
