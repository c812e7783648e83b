// Package faults breaks a Kafka broker's connections on demand, for tests: a listener (kfake's
// ListenFn) whose accepted connections can be reset and refused, as during a broker restart,
// or held without an answer, as behind a blackhole. The client sees it on the wire exactly as
// it sees a real broker go away.
package faults

import (
	"net"
	"sync"
)

// Switch controls the connections of the listeners it made.
type Switch struct {
	mu        sync.Mutex
	cond      *sync.Cond
	down      bool // connections are reset and new ones closed at once
	blackhole bool // connections stay open, but nothing passes
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

// Up lets connections pass again.
func (s *Switch) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.blackhole = false, false
	s.cond.Broadcast()
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
	return c.Conn.Read(b)
}

func (c *conn) Close() error {
	c.s.mu.Lock()
	c.closed = true
	delete(c.s.conns, c)
	c.s.cond.Broadcast()
	c.s.mu.Unlock()
	return c.Conn.Close()
}
