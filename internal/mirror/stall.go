package mirror

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultStallAfter is how long a copy with records to copy may go without the target taking
// one before its progress says it stalled.
const DefaultStallAfter = 10 * time.Second

// Stall says a copy with work to do has not moved: since when, where, and the last fault a
// client met (a broker refusing connections, a reset, a timeout), if any.
type Stall struct {
	Since time.Time `json:"since"`
	// At is the partition furthest behind and the origin offset it waits to copy.
	At    string `json:"at,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// clientFaults keeps the newest connection-level error either client met. The clients retry
// these on their own; the copy only reports them when it stalls.
type clientFaults struct{ last atomic.Pointer[string] }

func (f *clientFaults) hook(side string) kgo.Hook { return faultHook{side: side, f: f} }

func (f *clientFaults) cause() string {
	if p := f.last.Load(); p != nil {
		return *p
	}
	return ""
}

// forget drops the kept error once the copy moves again, so a stall never shows a fault
// that healed long ago.
func (f *clientFaults) forget() { f.last.Store(nil) }

type faultHook struct {
	side string
	f    *clientFaults
}

var (
	_ kgo.HookBrokerConnect = faultHook{}
	_ kgo.HookBrokerE2E     = faultHook{}
)

func (h faultHook) OnBrokerConnect(m kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.note(m, err)
}

func (h faultHook) OnBrokerE2E(m kgo.BrokerMetadata, _ int16, e kgo.BrokerE2E) {
	h.note(m, e.Err())
}

func (h faultHook) note(m kgo.BrokerMetadata, err error) {
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s broker %s:%d at %s: %v", h.side, m.Host, m.Port, time.Now().UTC().Format("15:04:05"), err)
	h.f.last.Store(&msg)
}

// stallWatch turns successive progress reports into a rate and a stall.
type stallWatch struct {
	after       time.Duration
	lastRecords int64
	lastAt      time.Time
	movedAt     time.Time
}

// observe records a report: the records the target has taken so far and whether anything is
// left to copy. It returns records per second since the last report, and when the copy last
// moved if it has stalled (zero otherwise).
func (w *stallWatch) observe(now time.Time, records int64, pending bool) (rate float64, stalledSince time.Time) {
	if !w.lastAt.IsZero() && now.After(w.lastAt) {
		rate = float64(records-w.lastRecords) / now.Sub(w.lastAt).Seconds()
	}
	if w.movedAt.IsZero() || records != w.lastRecords || !pending {
		w.movedAt = now
	}
	w.lastRecords, w.lastAt = records, now
	if now.Sub(w.movedAt) >= w.after {
		return rate, w.movedAt
	}
	return rate, time.Time{}
}
