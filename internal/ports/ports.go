// Package ports picks loopback ports for the servers Ferry and its tests start.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"
)

// Reservation holds loopback ports bound until a server is about to bind them itself, so no
// other process picks them meanwhile.
type Reservation struct {
	Ports     []int
	listeners []net.Listener
}

// Reserve binds n free loopback ports (chosen as Free does), none of except, and holds them.
// Name in except the ports the same server binds later: free now, they could be picked.
func Reserve(n int, except ...int) (*Reservation, error) {
	r := &Reservation{}
	for len(r.Ports) < n {
		port, err := Free()
		if err != nil {
			r.Release()
			return nil, err
		}
		if slices.Contains(except, port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken since Free looked: pick another
		}
		r.Ports = append(r.Ports, port)
		r.listeners = append(r.listeners, l)
	}
	return r, nil
}

// Release frees the ports for the server that binds them next; call it right before.
func (r *Reservation) Release() {
	for _, l := range r.listeners {
		_ = l.Close()
	}
	r.listeners = nil
}

// WaitFree waits until port can be bound on loopback (a process that served on it may still
// be closing), for at most timeout.
func WaitFree(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return l.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d stays in use: %w", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Free finds a loopback port to listen on later. It picks below the kernel's ephemeral
// range (32768 and up on Linux): a port from that range, once released, can be handed to an
// outgoing connection of this very process before a server binds it, and the server then
// exits on "address already in use" (seen in CI).
func Free() (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
