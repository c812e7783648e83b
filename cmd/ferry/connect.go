package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/metrics"
	"github.com/ferryhq/ferry/internal/temporalserver"
	"github.com/ferryhq/ferry/internal/worker"
	"github.com/ferryhq/ferry/workflows"
)

// Exit codes.
const (
	exitFailed      = 1 // the run failed or was rolled back
	exitInvalid     = 2 // bad input: a runbook, a flag, a run id
	exitCancelled   = 3 // the run was cancelled
	exitUnreachable = 4 // Temporal could not be reached
)

func temporalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "address", Usage: "Temporal frontend host:port; empty uses Ferry's embedded server", EnvVars: []string{"TEMPORAL_ADDRESS"}},
		&cli.StringFlag{Name: "namespace", Value: "default", Usage: "Temporal namespace", EnvVars: []string{"TEMPORAL_NAMESPACE"}},
		&cli.StringFlag{Name: "tls-cert", Usage: "client certificate (PEM) for Temporal mTLS", EnvVars: []string{"TEMPORAL_TLS_CERT"}},
		&cli.StringFlag{Name: "tls-key", Usage: "client key (PEM) for Temporal mTLS", EnvVars: []string{"TEMPORAL_TLS_KEY"}},
		&cli.StringFlag{Name: "tls-ca", Usage: "CA certificates (PEM) to verify Temporal", EnvVars: []string{"TEMPORAL_TLS_CA"}},
		&cli.BoolFlag{Name: "tls", Usage: "use TLS to Temporal (implied by the other tls flags or an API key)", EnvVars: []string{"TEMPORAL_TLS"}},
		&cli.StringFlag{Name: "api-key", Usage: "Temporal Cloud API key", EnvVars: []string{"TEMPORAL_API_KEY"}},
		&cli.StringFlag{Name: "state-dir", Usage: "where the embedded server keeps its SQLite file and log", EnvVars: []string{"FERRY_STATE_DIR"}, Value: defaultStateDir()},
		&cli.IntFlag{Name: "port", Value: 7233, Usage: "loopback port of the embedded server", EnvVars: []string{"FERRY_PORT"}},
		&cli.IntFlag{Name: "ui-port", Value: temporalserver.DefaultUIPort, Usage: "loopback port of the embedded server's Temporal Web UI; 0 serves none", EnvVars: []string{"FERRY_UI_PORT"}},
	}
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ferry")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "ferry")
	}
	return filepath.Join(os.TempDir(), "ferry-state")
}

// session is a connection to Temporal, with the embedded server and a worker when this
// process hosts them.
type session struct {
	client   client.Client
	server   *temporalserver.Server
	worker   sdkworker.Worker
	lock     *os.File
	embedded bool
	ui       string // the embedded server's Web UI, whichever ferry process serves it; "" when none
	// metrics collects this process's SDK and Ferry series when it serves /metrics (ferry
	// server, ferry worker); nil otherwise.
	metrics *metrics.Metrics
}

// uiFile is where the ferry process hosting the embedded server writes its Web UI's URL, so
// the commands that use that server print links to it.
func uiFile(stateDir string) string { return filepath.Join(stateDir, "ui.url") }

// runLink is the Web UI's page of a run, "" without a UI.
func (s *session) runLink(namespace, id string) string {
	if s.ui == "" {
		return ""
	}
	return s.ui + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(id)
}

func (s *session) Close() {
	if s.worker != nil {
		s.worker.Stop()
	}
	if s.client != nil {
		s.client.Close()
	}
	s.metrics.Close()
	if s.server != nil {
		_ = s.server.Stop()
	}
	if s.lock != nil {
		_ = s.lock.Close()
	}
}

// rehost takes over the embedded server when the ferry process that hosted it has ended
// (a ferry status that started it, a ferry server stopped): this process starts it, with a
// worker, and carries on. It reports whether the session changed.
func (s *session) rehost(c *cli.Context) bool {
	if !s.embedded || s.hostsWorker() || c.String("address") != "" {
		return false
	}
	ns, err := connectEmbedded(c, true)
	if err != nil || !ns.hostsWorker() {
		if err == nil {
			ns.Close()
		}
		return false
	}
	s.client.Close()
	*s = *ns
	return true
}

// hostsWorker says whether runs make progress while this process lives.
func (s *session) hostsWorker() bool { return s.worker != nil }

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// connect reaches Temporal. With --address it dials that cluster (and runs a worker only
// when wantWorker). Without it, it uses the embedded server: another ferry process's if one
// is listening on the port, else one it starts itself, always with a worker, so runs parked
// by a crash continue while this process lives.
func connect(c *cli.Context, wantWorker bool) (*session, error) {
	if addr := c.String("address"); addr != "" {
		opts, err := clientOptions(c, addr)
		if err != nil {
			return nil, cli.Exit(err.Error(), exitInvalid)
		}
		m := metricsFor(c)
		opts.MetricsHandler = m.SDK()
		cl, err := client.Dial(opts)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("cannot reach Temporal at %s: %v", addr, err), exitUnreachable)
		}
		s := &session{client: cl, metrics: m}
		if wantWorker {
			if err := s.startWorker(); err != nil {
				s.Close()
				return nil, err
			}
		}
		return s, nil
	}
	return connectEmbedded(c, true)
}

func clientOptions(c *cli.Context, addr string) (client.Options, error) {
	opts := client.Options{HostPort: addr, Namespace: c.String("namespace"), Logger: quietLogger()}
	useTLS := c.Bool("tls") || c.String("tls-cert") != "" || c.String("tls-ca") != "" || c.String("api-key") != ""
	if useTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := c.String("tls-ca"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return opts, fmt.Errorf("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return opts, fmt.Errorf("--tls-ca %s: no PEM certificates", ca)
			}
			tc.RootCAs = pool
		}
		if cert := c.String("tls-cert"); cert != "" {
			kp, err := tls.LoadX509KeyPair(cert, c.String("tls-key"))
			if err != nil {
				return opts, fmt.Errorf("--tls-cert/--tls-key: %w", err)
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		opts.ConnectionOptions.TLS = tc
	}
	if key := c.String("api-key"); key != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	return opts, nil
}

// connectEmbedded uses the embedded server on --port, starting it (with a worker unless
// withWorker is false) when no other ferry process serves there.
func connectEmbedded(c *cli.Context, withWorker bool) (*session, error) {
	dir := c.String("state-dir")
	port := c.Int("port")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, cli.Exit(fmt.Sprintf("state directory %s: %v", dir, err), exitInvalid)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Another ferry process serving already? Use it: it runs a worker (unless a server
		// started with --no-worker, whose runs wait for ferry worker processes).
		if cl, err := dialQuick(c, addr, metricsFor(c)); err == nil {
			ui, _ := os.ReadFile(uiFile(dir))
			return &session{client: cl, embedded: true, ui: strings.TrimSpace(string(ui)), metrics: metricsFor(c)}, nil
		}
		lock, err := tryLock(filepath.Join(dir, "server.lock"))
		if err == nil {
			s, err := startEmbedded(c, dir, port, lock, withWorker)
			if err != nil {
				_ = lock.Close()
			}
			return s, err
		}
		if time.Now().After(deadline) {
			return nil, cli.Exit(fmt.Sprintf("another ferry process holds %s but its server on %s does not answer", filepath.Join(dir, "server.lock"), addr), exitUnreachable)
		}
		time.Sleep(200 * time.Millisecond) // another process is starting the server
	}
}

func dialQuick(c *cli.Context, addr string, m *metrics.Metrics) (client.Client, error) {
	ctx, cancel := context.WithTimeout(c.Context, 2*time.Second)
	defer cancel()
	return client.DialContext(ctx, client.Options{HostPort: addr, Namespace: c.String("namespace"), Logger: quietLogger(), MetricsHandler: m.SDK()})
}

func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func startEmbedded(c *cli.Context, dir string, port int, lock *os.File, withWorker bool) (*session, error) {
	srv, err := temporalserver.Start(temporalserver.Options{
		DatabaseFile:     filepath.Join(dir, "temporal.db"),
		Port:             port,
		Namespace:        c.String("namespace"),
		SearchAttributes: ferryAttributes(),
		LogFile:          filepath.Join(dir, "temporal.log"),
		UIPort:           c.Int("ui-port"),
	})
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("embedded Temporal server: %v", err), exitUnreachable)
	}
	// Written after the lock is held and the server serves: whoever reads it finds this UI.
	if srv.UIURL() != "" {
		_ = os.WriteFile(uiFile(dir), []byte(srv.UIURL()+"\n"), 0o600)
	} else {
		_ = os.Remove(uiFile(dir))
	}
	m := metricsFor(c)
	cl, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: c.String("namespace"), Logger: quietLogger(), MetricsHandler: m.SDK()})
	if err != nil {
		_ = srv.Stop()
		return nil, cli.Exit(fmt.Sprintf("embedded Temporal server: %v", err), exitUnreachable)
	}
	s := &session{client: cl, server: srv, lock: lock, embedded: true, ui: srv.UIURL(), metrics: m}
	if err := addSearchAttributes(c.Context, cl, c.String("namespace")); err != nil {
		s.Close()
		return nil, cli.Exit(fmt.Sprintf("embedded Temporal server: search attributes: %v", err), exitUnreachable)
	}
	if !withWorker {
		return s, nil
	}
	if err := s.startWorker(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) startWorker() error {
	w := worker.New(s.client, worker.Options{Activities: &activities.Activities{Sandboxes: sandboxes, Metrics: s.metrics}})
	if err := w.Start(); err != nil {
		return cli.Exit(fmt.Sprintf("start worker: %v", err), exitUnreachable)
	}
	s.worker = w
	return nil
}

var errNoRun = errors.New("no such run")

func ferryAttributes() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, a := range workflows.SearchAttributes {
		m[a] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return m
}

// addSearchAttributes registers those of Ferry's search attributes the namespace lacks: a
// state directory created by an older Ferry has only some.
func addSearchAttributes(ctx context.Context, cl client.Client, namespace string) error {
	have, err := cl.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return err
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, kind := range ferryAttributes() {
		if _, ok := have.CustomAttributes[name]; !ok {
			missing[name] = kind
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = cl.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	return err
}

// processMetrics is this process's one registry: the Temporal client, the worker and the
// /metrics endpoint share it.
var processMetrics = sync.OnceValue(metrics.New)

// metricsFor is the registry when the command serves /metrics (--metrics-address), else nil.
func metricsFor(c *cli.Context) *metrics.Metrics {
	if c.String("metrics-address") == "" {
		return nil
	}
	return processMetrics()
}

func metricsFlag() cli.Flag {
	return &cli.StringFlag{Name: "metrics-address", Value: defaultMetricsAddress, EnvVars: []string{"FERRY_METRICS_ADDRESS"},
		Usage: "serve Prometheus metrics on host:port/metrics (the Temporal SDK's and Ferry's: mirrors, groups, steps, runs, drills); empty serves none"}
}

// defaultMetricsAddress is loopback: expose it beyond the machine on purpose (deploy/ does).
const defaultMetricsAddress = "127.0.0.1:9233"

// serveMetrics serves the session's registry on --metrics-address, counting the runs on
// Temporal by runbook and phase when scraped. A taken address is reported, not fatal: the
// worker matters more than its metrics.
func serveMetrics(c *cli.Context, s *session) (stop func()) {
	if s.metrics == nil {
		return func() {}
	}
	s.metrics.CountRuns(func(ctx context.Context) (map[metrics.RunKey]int, error) {
		return countRuns(ctx, s.client)
	}, string(workflows.PhaseWaiting))
	srv, err := s.metrics.Serve(c.String("metrics-address"))
	if err != nil {
		fmt.Printf("no Prometheus metrics: %v (choose another --metrics-address)\n", err)
		return func() {}
	}
	fmt.Printf("Prometheus metrics on %s\n", srv.URL())
	return func() { _ = srv.Close() }
}
