package temporalserver

import (
	"fmt"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// DefaultUIPort is where the temporal CLI's dev server serves the Web UI, so people find it
// where they expect.
const DefaultUIPort = 8233

// startUI serves Temporal's Web UI for the frontend at grpcAddress on 127.0.0.1:port, and
// returns its base URL. A port already taken (another ferry, a temporal dev server) is an
// error the caller may shrug off: the runs do not need the UI.
func startUI(port int, grpcAddress string) (*uiserver.Server, string, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// The UI server's Start blocks and binds itself; check the port first so a taken one is
	// an error here rather than a log line from a goroutine.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("web UI: %w", err)
	}
	l.Close()
	ui := uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                "127.0.0.1",
		Port:                port,
		TemporalGRPCAddress: grpcAddress,
		EnableUI:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true}, // plain http on loopback
		HideLogs:            true,
		DisableNewsFetch:    true, // no calls out of the machine
	}))
	errc := make(chan error, 1)
	go func() { errc <- ui.Start() }()
	if err := waitListeningOr(addr, errc, 10*time.Second); err != nil {
		ui.Stop()
		return nil, "", fmt.Errorf("web UI: %w", err)
	}
	return ui, "http://" + addr, nil
}

// waitListeningOr waits until addr accepts connections, or the server failed.
func waitListeningOr(addr string, errc <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-errc:
			return err
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
