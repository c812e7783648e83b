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
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Ledger counts what the sandbox apps produced and consumed, by sequence number, so a
// migration's losses and duplicates can be counted exactly.
type Ledger struct {
	mu       sync.Mutex
	produced map[uint64]bool
	consumed map[uint64]int
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{produced: map[uint64]bool{}, consumed: map[uint64]int{}}
}

// Counts are the ledger's totals.
type Counts struct {
	Produced   int `json:"produced"`
	Consumed   int `json:"consumed"`
	Duplicates int `json:"duplicates"` // records processed more than once (extra times)
	Lost       int `json:"lost"`       // produced records never processed
}

// Counts summarises the ledger.
func (l *Ledger) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := Counts{Produced: len(l.produced)}
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
	Repoint(ctx context.Context, bootstrap string) (previous string, err error)
	Status() AppStatus
}

// AppStatus is what GET /apps/NAME answers.
type AppStatus struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Replicas  int    `json:"replicas"`
	Bootstrap string `json:"bootstrap"`
}

// Producer writes order events with increasing sequence numbers (header "seq") to a topic.
type Producer struct {
	name, topic string
	ledger      *Ledger
	interval    time.Duration

	mu        sync.Mutex
	bootstrap string
	cl        *kgo.Client
	cancel    context.CancelFunc
	done      chan struct{}
	seq       uint64
	running   bool
	// pausedAt and paused measure how long the producer was stopped, in all.
	pausedAt time.Time
	paused   time.Duration
}

// Paused is how long the producer has been stopped between its first start and now.
func (p *Producer) Paused() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// NewProducer returns a stopped producer; Scale(1) starts it.
func NewProducer(name, bootstrap, topic string, perSecond int, ledger *Ledger) *Producer {
	return &Producer{name: name, topic: topic, ledger: ledger, bootstrap: bootstrap, interval: time.Second / time.Duration(perSecond)}
}

func seqHeader(seq uint64) kgo.RecordHeader {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, seq)
	return kgo.RecordHeader{Key: "seq", Value: b}
}

func recordSeq(r *kgo.Record) (uint64, bool) {
	for _, h := range r.Headers {
		if h.Key == "seq" && len(h.Value) == 8 {
			return binary.BigEndian.Uint64(h.Value), true
		}
	}
	return 0, false
}

// Scale starts (1) or stops (0) the producer. Stopping waits until every record in flight
// is acknowledged, so a paused producer has nothing left to write.
func (p *Producer) Scale(ctx context.Context, replicas int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := 0
	if p.running {
		prev = 1
	}
	switch {
	case replicas > 0 && !p.running:
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.bootstrap), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			return prev, err
		}
		rctx, cancel := context.WithCancel(context.Background())
		p.cl, p.cancel, p.done, p.running = cl, cancel, make(chan struct{}), true
		if !p.pausedAt.IsZero() {
			p.paused += time.Since(p.pausedAt)
		}
		go p.loop(rctx, cl, p.done)
	case replicas == 0 && p.running:
		p.cancel()
		<-p.done
		err := p.cl.Flush(ctx)
		p.cl.Close()
		p.running = false
		p.pausedAt = time.Now()
		if err != nil {
			return prev, fmt.Errorf("flush %s: %w", p.name, err)
		}
	}
	return prev, nil
}

func (p *Producer) loop(ctx context.Context, cl *kgo.Client, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.seq++
		seq := p.seq
		v, _ := json.Marshal(map[string]any{"order": seq, "item": items[seq%uint64(len(items))], "source": p.name})
		cl.Produce(context.Background(), &kgo.Record{Topic: p.topic, Key: fmt.Appendf(nil, "customer-%03d", seq%200), Value: v,
			Headers: []kgo.RecordHeader{seqHeader(seq)}}, func(_ *kgo.Record, err error) {
			if err == nil {
				p.ledger.mu.Lock()
				p.ledger.produced[seq] = true
				p.ledger.mu.Unlock()
			}
		})
	}
}

// Repoint makes the producer write to another cluster; a running producer restarts there.
func (p *Producer) Repoint(ctx context.Context, bootstrap string) (string, error) {
	prev, _ := p.Scale(ctx, 0)
	p.mu.Lock()
	old := p.bootstrap
	p.bootstrap = bootstrap
	p.mu.Unlock()
	if prev > 0 {
		_, err := p.Scale(ctx, prev)
		return old, err
	}
	return old, nil
}

// Status reports the producer's state.
func (p *Producer) Status() AppStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := 0
	if p.running {
		r = 1
	}
	return AppStatus{Name: p.name, Role: "producer", Replicas: r, Bootstrap: p.bootstrap}
}

// Consumer reads a topic in a consumer group, records every record it processes in the
// ledger, and commits after each batch.
type Consumer struct {
	name, group, topic string
	ledger             *Ledger

	mu        sync.Mutex
	bootstrap string
	cl        *kgo.Client
	cancel    context.CancelFunc
	done      chan struct{}
	running   bool
}

// NewConsumer returns a stopped consumer; Scale(1) starts it.
func NewConsumer(name, bootstrap, group, topic string, ledger *Ledger) *Consumer {
	return &Consumer{name: name, group: group, topic: topic, ledger: ledger, bootstrap: bootstrap}
}

// Scale starts (1) or stops (0) the consumer. Stopping commits what it processed and leaves
// the group, so the group is empty afterwards.
func (c *Consumer) Scale(ctx context.Context, replicas int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := 0
	if c.running {
		prev = 1
	}
	switch {
	case replicas > 0 && !c.running:
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap), kgo.ConsumerGroup(c.group), kgo.ConsumeTopics(c.topic),
			kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ClientID(c.name),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			return prev, err
		}
		rctx, cancel := context.WithCancel(context.Background())
		c.cl, c.cancel, c.done, c.running = cl, cancel, make(chan struct{}), true
		go c.loop(rctx, cl, c.done)
	case replicas == 0 && c.running:
		c.cancel()
		<-c.done
		c.cl.Close() // leaves the group
		c.running = false
	}
	return prev, nil
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
			if seq, ok := recordSeq(r); ok {
				c.ledger.consumed[seq]++
			}
		}
		c.ledger.mu.Unlock()
		// Processed, then committed: a crash in between re-reads (at-least-once), as real
		// consumers do; a clean stop never does.
		for cl.CommitRecords(context.Background(), rs...) != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Repoint makes the consumer read from another cluster; a running consumer restarts there.
func (c *Consumer) Repoint(ctx context.Context, bootstrap string) (string, error) {
	prev, _ := c.Scale(ctx, 0)
	c.mu.Lock()
	old := c.bootstrap
	c.bootstrap = bootstrap
	c.mu.Unlock()
	if prev > 0 {
		_, err := c.Scale(ctx, prev)
		return old, err
	}
	return old, nil
}

// Status reports the consumer's state.
func (c *Consumer) Status() AppStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := 0
	if c.running {
		r = 1
	}
	return AppStatus{Name: c.name, Role: "consumer", Replicas: r, Bootstrap: c.bootstrap}
}

// Control serves the apps over HTTP on loopback, for the apps.scale and apps.repoint steps:
//
//	GET  /apps/NAME                          status
//	POST /apps/NAME/scale    {"replicas":N}  -> {"previous":N}
//	POST /apps/NAME/repoint  {"bootstrap":A} -> {"previous":A}
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
		Replicas  *int   `json:"replicas"`
		Bootstrap string `json:"bootstrap"`
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
	case len(parts) == 3 && parts[2] == "repoint" && body.Bootstrap != "":
		var prev string
		prev, err = app.Repoint(r.Context(), body.Bootstrap)
		out = map[string]any{"previous": prev}
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
