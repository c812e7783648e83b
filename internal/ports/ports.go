// Package ports picks loopback ports for the servers Ferry and its tests start.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

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
