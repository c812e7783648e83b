// Package temporalserver runs a Temporal server inside the Ferry process: SQLite persistence
// (a file, or memory for tests), every service on loopback.
//
// It is the only package that imports go.temporal.io/server. Linking the server costs minutes
// and gigabytes, so everything else depends on the SDK alone.
package temporalserver

import (
	"github.com/ferryhq/ferry/internal/ports"

	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	uiserver "github.com/temporalio/ui-server/v2/server"
)

// Options say where the server keeps its state and where it listens.
type Options struct {
	// DatabaseFile is the SQLite file; empty keeps everything in memory.
	DatabaseFile string
	// Port is the frontend gRPC port on 127.0.0.1; 0 picks a free one.
	Port int
	// Namespace is registered at start (idempotent). Defaults to "default".
	Namespace string
	// SearchAttributes are registered on a namespace the first time it is created.
	SearchAttributes map[string]enumspb.IndexedValueType
	// LogFile receives the server's own log (warnings and errors); empty discards it.
	LogFile string
	// UIPort serves Temporal's Web UI on 127.0.0.1 at this port; 0 serves none. A port taken
	// leaves the server without a UI (UIError says why), not failed.
	UIPort int
}

// Server is a running embedded Temporal server.
type Server struct {
	srv     temporal.Server
	address string
	ui      *uiserver.Server
	uiURL   string
	uiErr   error
}

// Start starts the server and returns once its frontend accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Port == 0 {
		p, err := ports.Free()
		if err != nil {
			return nil, err
		}
		opts.Port = p
	}
	logger := log.Logger(log.NewNoopLogger())
	if opts.LogFile != "" {
		logger = log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "warn", OutputFile: opts.LogFile}))
	}
	logger = fatalToStderr{logger}

	// A process that served on the port may still be closing its listener.
	if err := ports.WaitFree(opts.Port, 10*time.Second); err != nil {
		return nil, err
	}
	// The services' own ports stay bound until the server binds them, so that no other
	// process starting a server picks them meanwhile; never the frontend's or the UI's, free
	// until this server binds them (seen in CI: the frontend lost its port to a service).
	reserved, err := ports.Reserve(7, opts.Port, opts.UIPort)
	if err != nil {
		return nil, err
	}
	defer reserved.Release()
	cfg, err := serverConfig(opts, reserved.Ports)
	if err != nil {
		return nil, err
	}
	sqlCfg := cfg.Persistence.DataStores[sqliteplugin.PluginName].SQL
	if opts.DatabaseFile != "" {
		if err := os.MkdirAll(filepath.Dir(opts.DatabaseFile), 0o700); err != nil {
			return nil, fmt.Errorf("temporal state directory: %w", err)
		}
		if _, err := os.Stat(opts.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			if err := sqlite.SetupSchema(sqlCfg); err != nil {
				return nil, fmt.Errorf("create temporal schema in %s: %w", opts.DatabaseFile, err)
			}
		} else if err := forgetMembers(opts.DatabaseFile); err != nil {
			return nil, err
		}
	} // in memory, the SQLite plugin creates the schema itself
	ns, err := sqlite.NewNamespaceConfig(cfg.ClusterMetadata.CurrentClusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, err
	}
	if err := sqlite.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("register namespace %s: %w", opts.Namespace, err)
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, err
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, err
	}
	reserved.Release() // the services bind their ports while the server is built
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithCustomMetricsHandler(metrics.NoopMetricsHandler),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			// Lets a run be found by a search attribute right after the namespace is created.
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
			// The worker that completes a workflow task starts the activity it asked for in
			// the same round trip (measured: halves the per-step overhead, 100 -> 50 ms).
			dynamicconfig.EnableActivityEagerExecution.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
			// With one history shard every step's dispatch goes through one transfer queue,
			// polled at 20/s by default: 50 ms per step once its burst is spent (measured:
			// 50 noop steps 2.2 s -> see the Run50 benchmark).
			dynamicconfig.TransferProcessorMaxPollRPS.Key(): []dynamicconfig.ConstrainedValue{{Value: 1000}},
			dynamicconfig.TimerProcessorMaxPollRPS.Key():    []dynamicconfig.ConstrainedValue{{Value: 1000}},
			// One partition per task queue: one worker polls it, there is nothing to spread.
			dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  []dynamicconfig.ConstrainedValue{{Value: 1}},
			dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): []dynamicconfig.ConstrainedValue{{Value: 1}},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{srv: srv, address: net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port))}
	if err := waitListening(s.address, 30*time.Second); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if opts.UIPort > 0 {
		s.ui, s.uiURL, s.uiErr = startUI(opts.UIPort, s.address)
	}
	return s, nil
}

// Address is the frontend's host:port.
func (s *Server) Address() string { return s.address }

// UIURL is the Web UI's base URL, empty when none is served; UIError then says why, when one
// was asked for.
func (s *Server) UIURL() string { return s.uiURL }

// UIError is why the Web UI asked for is not served (its port was taken), or nil.
func (s *Server) UIError() error { return s.uiErr }

// Stop stops the Web UI and every service; the SQLite file stays consistent.
func (s *Server) Stop() error {
	if s.ui != nil {
		s.ui.Stop()
	}
	return s.srv.Stop()
}

// serverConfig configures the services on the frontend's port and the seven others given.
func serverConfig(opts Options, internal []int) (*config.Config, error) {
	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal"},
		DatabaseName:      opts.DatabaseFile,
	}
	if opts.DatabaseFile == "" {
		sqlCfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		sqlCfg.DatabaseName = "ferry-" + primitives.NewUUID().String()
	}
	const host = "127.0.0.1"
	next := func() int {
		p := internal[0]
		internal = internal[1:]
		return p
	}
	services := map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		grpcPort := opts.Port
		if name != "frontend" {
			grpcPort = next()
		}
		services[name] = config.Service{RPC: config.RPC{GRPCPort: grpcPort, MembershipPort: next(), BindOnIP: host}}
	}
	frontend := net.JoinHostPort(host, strconv.Itoa(opts.Port))
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: host},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}, nil
}

// forgetMembers drops the membership records of earlier server processes on this file.
// Their services died with them (the caller holds the file exclusively), but for 20 s
// after their last heartbeat a new server would try to join them and stall for up to a
// minute — exactly when someone resumes a run right after a crash.
func forgetMembers(file string) error {
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("clear stale cluster membership in %s: %w", file, err)
	}
	return nil
}

// fatalToStderr also prints fatal errors on stderr: the server exits the process on them, and
// a log file nobody reads would leave the user with a bare exit code.
type fatalToStderr struct{ log.Logger }

func (l fatalToStderr) Fatal(msg string, tags ...tag.Tag) {
	parts := []string{msg}
	for _, t := range tags {
		parts = append(parts, fmt.Sprintf("%s=%v", t.Key(), t.Value()))
	}
	fmt.Fprintln(os.Stderr, "ferry: embedded Temporal server:", strings.Join(parts, " "))
	l.Logger.Fatal(msg, tags...)
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal frontend %s not listening after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
