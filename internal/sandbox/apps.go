package sandbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Ledger counts what the sandbox apps produced and consumed, by sequence number, so a
// migration's losses and duplicates can be counted exactly.
type Ledger struct {
	mu       sync.Mutex
	produced map[uint64]bool
	consumed map[uint64]int
	// latest is the highest sequence processed per key; outOfOrder counts first processings
	// of a record after a later one of its key.
	latest     map[string]uint64
	outOfOrder int
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{produced: map[uint64]bool{}, consumed: map[uint64]int{}, latest: map[string]uint64{}}
}

// Counts are the ledger's totals.
type Counts struct {
	Produced   int `json:"produced"`
	Consumed   int `json:"consumed"`
	Duplicates int `json:"duplicates"` // records processed more than once (extra times)
	Lost       int `json:"lost"`       // produced records never processed
	// OutOfOrder counts records processed (the first time) after a later record of the same
	// key: what running consumers on two clusters at once risks (seed 004, scheme 2).
	OutOfOrder int `json:"outOfOrder"`
}

// Lost lists the produced records never processed, by sequence number.
func (l *Ledger) Lost() map[uint64]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[uint64]bool{}
	for seq := range l.produced {
		if l.consumed[seq] == 0 {
			out[seq] = true
		}
	}
	return out
}

// Process counts a record as processed, as a consumer replaying it would.
func (l *Ledger) Process(r *kgo.Record) {
	l.mu.Lock()
	l.process(r)
	l.mu.Unlock()
}

// process counts one processed record; l.mu held.
func (l *Ledger) process(r *kgo.Record) {
	seq, ok := RecordSeq(r)
	if !ok {
		return
	}
	key := string(r.Key)
	if l.consumed[seq] == 0 && seq < l.latest[key] {
		l.outOfOrder++
	}
	l.latest[key] = max(l.latest[key], seq)
	l.consumed[seq]++
}

// Counts summarises the ledger.
func (l *Ledger) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := Counts{Produced: len(l.produced), OutOfOrder: l.outOfOrder}
	for _, n := range l.consumed {
		c.Consumed += n
		if n > 1 {
			c.Duplicates += n - 1
		}
	}
	for seq := range l.produced {
		if l.consumed[seq] == 0 {
			c.Lost++
		}
	}
	return c
}

// App is a sandbox producer or consumer that can be scaled and repointed.
type App interface {
	Scale(ctx context.Context, replicas int) (previous int, err error)
	// Repoint moves the app to another cluster or topic (empty fields stay as they are);
	// it returns where the app worked before.
	Repoint(ctx context.Context, to Connection) (previous Connection, err error)
	Status() AppStatus
}

// Connection is where a sandbox app works: a cluster and the topic it writes or reads.
type Connection struct {
	Bootstrap string `json:"bootstrap,omitempty"`
	Topic     string `json:"topic,omitempty"`
}

// AppStatus is what GET /apps/NAME answers.
type AppStatus struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Replicas  int    `json:"replicas"`
	Bootstrap string `json:"bootstrap"`
	Topic     string `json:"topic"`
}

// lifecycle is what producers and consumers share: one replica or none, a cluster to use,
// and the start and stop of their work.
type lifecycle struct {
	name, role string

	mu        sync.Mutex
	bootstrap string
	topic     string
	opts      []kgo.Opt    // how it logs in, beyond the bootstrap servers
	stop      func() error // set while running
}

// Scale starts (replicas > 0) or stops (0) the app; asking for the state it is in changes
// nothing. It returns the replicas before.
func (l *lifecycle) scale(replicas int, start func(Connection) (func() error, error)) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := 0
	if l.stop != nil {
		prev = 1
	}
	switch {
	case replicas > 0 && l.stop == nil:
		stop, err := start(Connection{Bootstrap: l.bootstrap, Topic: l.topic})
		if err != nil {
			return prev, err
		}
		l.stop = stop
	case replicas == 0 && l.stop != nil:
		err := l.stop()
		l.stop = nil
		if err != nil {
			return prev, fmt.Errorf("stop %s: %w", l.name, err)
		}
	}
	return prev, nil
}

// repoint moves the app to another cluster or topic; a running app restarts there.
func (l *lifecycle) repoint(to Connection, start func(Connection) (func() error, error)) (Connection, error) {
	prev, err := l.scale(0, start)
	if err != nil {
		return Connection{}, err
	}
	l.mu.Lock()
	old := Connection{Bootstrap: l.bootstrap, Topic: l.topic}
	if to.Bootstrap != "" {
		l.bootstrap = to.Bootstrap
	}
	if to.Topic != "" {
		l.topic = to.Topic
	}
	l.mu.Unlock()
	if prev > 0 {
		_, err = l.scale(prev, start)
	}
	return old, err
}

// Login sets how the app logs in (client options beyond the bootstrap servers) from its next
// start on, as a pod restarted with other credentials does. A producer's sequence goes on.
func (l *lifecycle) Login(opts ...kgo.Opt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opts = opts
}

// Status reports the app's state.
func (l *lifecycle) Status() AppStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := 0
	if l.stop != nil {
		r = 1
	}
	return AppStatus{Name: l.name, Role: l.role, Replicas: r, Bootstrap: l.bootstrap, Topic: l.topic}
}

// Producer writes order events with increasing sequence numbers (header "seq") to a topic.
type Producer struct {
	lifecycle
	ledger   *Ledger
	interval time.Duration
	seq      atomic.Uint64
	// pausedAt and paused measure how long the producer was stopped, in all.
	pausedAt time.Time
	paused   time.Duration
}

// NewProducer returns a stopped producer; Scale(1) starts it. opts are further client options
// (its credentials).
func NewProducer(name, bootstrap, topic string, perSecond int, ledger *Ledger, opts ...kgo.Opt) *Producer {
	return &Producer{lifecycle: lifecycle{name: name, role: "producer", bootstrap: bootstrap, topic: topic, opts: opts}, ledger: ledger,
		interval: time.Second / time.Duration(perSecond)}
}

// Paused is how long the producer has been stopped between its first start and now.
func (p *Producer) Paused() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Scale starts (1) or stops (0) the producer. Stopping waits until every record in flight
// is acknowledged, so a paused producer has nothing left to write (10s at most: a cluster
// that does not answer any more gets nothing).
func (p *Producer) Scale(ctx context.Context, replicas int) (int, error) {
	return p.scale(replicas, p.start)
}

// Repoint makes the producer write to another cluster or topic.
func (p *Producer) Repoint(_ context.Context, to Connection) (Connection, error) {
	return p.repoint(to, p.start)
}

// start runs the producer; called with p.mu held.
func (p *Producer) start(at Connection) (func() error, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(at.Bootstrap), kgo.ProducerLinger(5 * time.Millisecond)}, p.opts...)...)
	if err != nil {
		return nil, err
	}
	if !p.pausedAt.IsZero() {
		p.paused += time.Since(p.pausedAt)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go p.loop(ctx, cl, at.Topic, done)
	return func() error {
		cancel()
		<-done
		// A cluster that no longer answers never acknowledges the rest: like a pod that dies,
		// the producer drops it (those records were never promised, the ledger has them not).
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer fcancel()
		_ = cl.Flush(fctx)
		cl.Close() // fails what is still buffered
		p.pausedAt = time.Now()
		return nil
	}, nil
}

func seqHeader(seq uint64) kgo.RecordHeader {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, seq)
	return kgo.RecordHeader{Key: "seq", Value: b}
}

// RecordSeq is the sequence number the sandbox producer wrote on a record.
func RecordSeq(r *kgo.Record) (uint64, bool) {
	for _, h := range r.Headers {
		if h.Key == "seq" && len(h.Value) == 8 {
			return binary.BigEndian.Uint64(h.Value), true
		}
	}
	return 0, false
}

func (p *Producer) loop(ctx context.Context, cl *kgo.Client, topic string, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seq := p.seq.Add(1)
		v, _ := json.Marshal(map[string]any{"order": seq, "item": items[seq%uint64(len(items))], "source": p.name})
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "customer-%03d", seq%200), Value: v,
			Headers: []kgo.RecordHeader{seqHeader(seq)}}, func(_ *kgo.Record, err error) {
			if err == nil {
				p.ledger.mu.Lock()
				p.ledger.produced[seq] = true
				p.ledger.mu.Unlock()
			}
		})
	}
}

// Consumer reads a topic in a consumer group, records every record it processes in the
// ledger, and commits after each batch.
type Consumer struct {
	lifecycle
	group  string
	ledger *Ledger
}

// NewConsumer returns a stopped consumer; Scale(1) starts it. opts are further client options
// (its credentials).
func NewConsumer(name, bootstrap, group, topic string, ledger *Ledger, opts ...kgo.Opt) *Consumer {
	return &Consumer{lifecycle: lifecycle{name: name, role: "consumer", bootstrap: bootstrap, topic: topic, opts: opts}, group: group, ledger: ledger}
}

// Scale starts (1) or stops (0) the consumer. Stopping commits what it processed (unless its
// cluster no longer answers) and leaves
// the group, so the group is empty afterwards.
func (c *Consumer) Scale(ctx context.Context, replicas int) (int, error) {
	return c.scale(replicas, c.start)
}

// Repoint makes the consumer read from another cluster or topic.
func (c *Consumer) Repoint(_ context.Context, to Connection) (Connection, error) {
	return c.repoint(to, c.start)
}

func (c *Consumer) start(at Connection) (func() error, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(at.Bootstrap), kgo.ConsumerGroup(c.group), kgo.ConsumeTopics(at.Topic),
		kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ClientID(c.name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond),
		// A consumer lost with its cluster leaves the group 6 s after the cluster is back
		// (Kafka's default is 45 s), so a failback need not wait long for its session to end.
		kgo.SessionTimeout(6 * time.Second)}, c.opts...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go c.loop(ctx, cl, done)
	return func() error {
		cancel()
		<-done
		cl.Close() // leaves the group
		return nil
	}, nil
}

func (c *Consumer) loop(ctx context.Context, cl *kgo.Client, done chan struct{}) {
	defer close(done)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		rs := fs.Records()
		if len(rs) == 0 {
			continue
		}
		c.ledger.mu.Lock()
		for _, r := range rs {
			c.ledger.process(r)
		}
		c.ledger.mu.Unlock()
		commit(ctx, cl, rs)
	}
}

// commit commits what the consumer processed: a crash between processing and commit re-reads
// (at-least-once), as real consumers do, but a clean stop never does. A stop during the commit
// waits for it (up to 5 s: a cluster that no longer answers keeps them uncommitted); until the
// stop, a failing commit is retried.
func commit(stopped context.Context, cl *kgo.Client, rs []*kgo.Record) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cl.CommitRecords(ctx, rs...)
		cancel()
		if err == nil || stopped.Err() != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Control serves the apps over HTTP on loopback, for the apps.scale and apps.repoint steps:
//
//	GET  /apps/NAME                          status
//	POST /apps/NAME/scale    {"replicas":N}  -> {"previous":N}
//	POST /apps/NAME/repoint  {"bootstrap":A,"topic":T} -> {"previous":A,"previousTopic":T}
type Control struct {
	apps map[string]App
	srv  *http.Server
	Addr string
}

// Serve starts the control endpoint on a free loopback port.
func Serve(apps map[string]App) (*Control, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &Control{apps: apps, Addr: l.Addr().String()}
	c.srv = &http.Server{Handler: http.HandlerFunc(c.handle), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = c.srv.Serve(l) }()
	return c, nil
}

// Close stops the endpoint.
func (c *Control) Close() { _ = c.srv.Close() }

func (c *Control) handle(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "apps" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	app, ok := c.apps[parts[1]]
	if !ok {
		http.Error(w, fmt.Sprintf("no sandbox app %q", parts[1]), http.StatusNotFound)
		return
	}
	var body struct {
		Replicas *int `json:"replicas"`
		Connection
	}
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	var out any
	var err error
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		out = app.Status()
	case len(parts) == 3 && parts[2] == "scale" && body.Replicas != nil:
		var prev int
		prev, err = app.Scale(r.Context(), *body.Replicas)
		out = map[string]any{"previous": prev, "replicas": *body.Replicas}
	case len(parts) == 3 && parts[2] == "repoint" && (body.Bootstrap != "" || body.Topic != ""):
		var prev Connection
		prev, err = app.Repoint(r.Context(), body.Connection)
		out = map[string]any{"previous": prev.Bootstrap, "previousTopic": prev.Topic}
	default:
		err = errors.New("bad request")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
