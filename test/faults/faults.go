// Package faults breaks a Kafka broker's connections on demand, for tests: a listener (kfake's
// ListenFn) whose accepted connections can be reset and refused, as during a broker restart,
// held without an answer, as behind a blackhole, or slowed by latency and a bandwidth cap, as
// across a congested WAN link. The client sees it on the wire exactly as it sees a real broker
// go away or a real link slow down.
package faults

import (
	"net"
	"sync"
	"time"
)

// Switch controls the connections of the listeners it made.
type Switch struct {
	mu        sync.Mutex
	cond      *sync.Cond
	down      bool // connections are reset and new ones closed at once
	blackhole bool // connections stay open, but nothing passes
	latency   time.Duration
	rate      int // bytes per second each way on each connection; 0 is unlimited
	conns     map[*conn]struct{}
}

// New returns a switch with every connection passing.
func New() *Switch {
	s := &Switch{conns: map[*conn]struct{}{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// Listen is a kfake.ListenFn: a TCP listener whose connections s controls.
func (s *Switch) Listen(network, address string) (net.Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &listener{Listener: l, s: s}, nil
}

// Down resets every connection and refuses new ones until Up: a broker restarting.
func (s *Switch) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = true
	for c := range s.conns {
		_ = c.Conn.Close()
	}
	s.cond.Broadcast()
}

// Blackhole holds every connection, old and new, without passing a byte until Up.
func (s *Switch) Blackhole() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blackhole = true
}

// Slow delays every answer by latency and caps each connection at bytesPerSecond each way
// (0: no cap) until Up: a congested link, not a broken one.
func (s *Switch) Slow(latency time.Duration, bytesPerSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency, s.rate = latency, bytesPerSecond
}

// Up lets connections pass again at full speed.
func (s *Switch) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.blackhole = false, false
	s.latency, s.rate = 0, 0
	s.cond.Broadcast()
}

// pace sleeps as long as n bytes take at the capped rate, plus latency when asked.
func (s *Switch) pace(n int, withLatency bool) {
	s.mu.Lock()
	latency, rate := s.latency, s.rate
	s.mu.Unlock()
	var d time.Duration
	if withLatency {
		d = latency
	}
	if rate > 0 {
		d += time.Duration(n) * time.Second / time.Duration(rate)
	}
	if d > 0 {
		time.Sleep(d)
	}
}

// wait blocks while a blackhole holds c; it reports false once c is closed.
func (s *Switch) wait(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.blackhole && !c.closed {
		s.cond.Wait()
	}
	return !c.closed
}

type listener struct {
	net.Listener
	s *Switch
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.mu.Lock()
		if l.s.down {
			l.s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		c := &conn{Conn: nc, s: l.s}
		l.s.conns[c] = struct{}{}
		l.s.mu.Unlock()
		return c, nil
	}
}

type conn struct {
	net.Conn
	s      *Switch
	closed bool
}

// Read gives the broker nothing while a blackhole holds the connection: requests go
// unanswered until the client's own timeout.
func (c *conn) Read(b []byte) (int, error) {
	if !c.s.wait(c) {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(b)
	c.s.pace(n, false)
	return n, err
}

// Write delays the broker's answers by the latency and paces them at the cap.
func (c *conn) Write(b []byte) (int, error) {
	c.s.pace(len(b), true)
	return c.Conn.Write(b)
}

func (c *conn) Close() error {
	c.s.mu.Lock()
	c.closed = true
	delete(c.s.conns, c)
	c.s.cond.Broadcast()
	c.s.mu.Unlock()
	return c.Conn.Close()
}
