// Package kafkatest runs real Apache Kafka for Ferry's tests: single-node KRaft clusters
// (optionally with a SASL_SSL SCRAM-SHA-512 listener and generated certificates) and a Kafka
// Connect distributed worker with the MirrorMaker 2 connectors, from jars resolved by
// `go tool task kafka:jars` (test/kafka/jars.sh). Servers listen on loopback; readiness is
// checked over the protocol; a failed test keeps the logs and prints where; every process is
// stopped when the test ends.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/ports"
)

// Jars finds the folder of resolved Kafka jars, or says why there is none.
func Jars() (string, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return "", fmt.Errorf("java is not installed (Kafka needs Java 17+)")
	}
	_, file, _, _ := runtime.Caller(0)
	pom, err := os.ReadFile(filepath.Join(filepath.Dir(file), "pom.xml"))
	if err != nil {
		return "", err
	}
	version := between(string(pom), "<kafka.version>", "</kafka.version>")
	base := os.Getenv("FERRY_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(c, "ferry")
	}
	dir := filepath.Join(base, "kafka", version, "libs")
	if m, _ := filepath.Glob(filepath.Join(dir, "kafka_2.13-*.jar")); len(m) == 0 {
		return "", fmt.Errorf("the Apache Kafka %s jars are not resolved (run: go tool task kafka:jars)", version)
	}
	return dir, nil
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	if j := strings.Index(s, b); j >= 0 {
		return s[:j]
	}
	return ""
}

// Skip skips (on a laptop) or fails (under CI=true) a test when Java or the jars are missing.
func Skip(tb testing.TB) {
	tb.Helper()
	if _, err := Jars(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v", err)
		}
		tb.Skipf("%v", err)
	}
}

// process is one JVM with its log.
type process struct {
	name string
	dir  string
	args []string
	// jvm are extra JVM options (the three-node clusters start with a quick JIT: six JVMs
	// share two cores, and a restarted broker should be back in seconds).
	jvm []string
	cmd *exec.Cmd
	log *os.File
}

func (p *process) start() error {
	jars, err := Jars()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(p.dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l4j := filepath.Join(p.dir, "log4j2.properties")
	if err := os.WriteFile(l4j, []byte(log4j), 0o644); err != nil {
		return err
	}
	args := append([]string{"-Xms128m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true"}, p.jvm...)
	args = append(append(args, "-Dlog4j2.configurationFile="+l4j, "-cp", filepath.Join(jars, "*")), p.args...)
	cmd := exec.Command("java", args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.log = cmd, logf
	return nil
}

// stop ends the JVM: SIGTERM for a clean shutdown, SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if p.cmd == nil {
		return
	}
	sig := syscall.SIGTERM
	if grace <= 0 {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	p.log.Close()
	p.cmd = nil
}

func (p *process) tail(lines int) string {
	b, _ := os.ReadFile(filepath.Join(p.dir, p.name+".log"))
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

const log4j = `status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
`

// workDir makes a folder kept for a failed test, removed otherwise.
func workDir(tb testing.TB, name string, procs func() []*process) string {
	dir, err := os.MkdirTemp("", "ferry-"+name+"-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		for _, p := range procs() {
			p.stop(10 * time.Second)
		}
		if tb.Failed() {
			for _, p := range procs() {
				tb.Logf("%s: log kept in %s; last lines:\n%s", p.name, filepath.Join(dir, p.name+".log"), p.tail(30))
			}
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Cluster is a KRaft cluster whose nodes are each broker and controller in one JVM: one node
// by default, three with WithBrokers(3) (replication factor 3, min.insync.replicas 2).
type Cluster struct {
	Name string
	// Addr is the first node's PLAINTEXT listener; SecureAddr its SASL_SSL one (with WithSCRAM).
	Addr, SecureAddr string
	// Addrs are every node's PLAINTEXT listeners, by node (node i has id i+1).
	Addrs []string
	// SCRAM holds the user, password and CA of the secure listener.
	SCRAM *SCRAM
	procs []*process
}

// SCRAM is the secure listener's credentials and trust.
type SCRAM struct {
	User, Password string
	CAFile         string // PEM
}

// Option configures a cluster.
type Option func(*clusterConfig)

type clusterConfig struct {
	scram, acls bool
	nodes       int
}

// WithSCRAM adds a SASL_SSL listener with SCRAM-SHA-512 user ferry and a certificate
// signed by a generated CA (single-node clusters only).
func WithSCRAM() Option { return func(c *clusterConfig) { c.scram = true } }

// WithACLs turns the authorizer on (with WithSCRAM): users on the secure listener may do only
// what ACLs allow; the PLAINTEXT listener (ANONYMOUS, for the harness) and user ferry are
// super users.
func WithACLs() Option { return func(c *clusterConfig) { c.acls = true } }

// WithBrokers runs n nodes; from three on, topics default to replication factor 3 and
// min.insync.replicas 2, as production clusters do.
func WithBrokers(n int) Option { return func(c *clusterConfig) { c.nodes = n } }

// StartCluster formats and starts a cluster, waits until every node answers over the
// protocol, and stops it when the test ends.
func StartCluster(tb testing.TB, name string, opts ...Option) *Cluster {
	tb.Helper()
	Skip(tb)
	cfg := clusterConfig{nodes: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.scram && cfg.nodes > 1 {
		tb.Fatal("kafkatest: WithSCRAM is for single-node clusters")
	}
	if cfg.acls && !cfg.scram {
		tb.Fatal("kafkatest: WithACLs needs WithSCRAM")
	}
	c := &Cluster{Name: name}
	dir := workDir(tb, "kafka-"+name, func() []*process { return c.procs })
	rf, minISR := 1, 1
	if cfg.nodes >= 3 {
		rf, minISR = 3, 2
	}
	ctl := make([]int, cfg.nodes)
	var voters []string
	for i := range cfg.nodes {
		ctl[i] = mustPort(tb)
		c.Addrs = append(c.Addrs, fmt.Sprintf("127.0.0.1:%d", mustPort(tb)))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ctl[i]))
	}
	c.Addr = c.Addrs[0]
	id := clusterID()
	for i := range cfg.nodes {
		ndir := dir
		if cfg.nodes > 1 {
			ndir = filepath.Join(dir, fmt.Sprintf("node%d", i+1))
			if err := os.MkdirAll(ndir, 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		listeners := fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://127.0.0.1:%d", c.Addrs[i], ctl[i])
		advertised := "PLAINTEXT://" + c.Addrs[i]
		protocols := "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
		var extra []string
		if cfg.scram {
			sp := mustPort(tb)
			c.SecureAddr = fmt.Sprintf("127.0.0.1:%d", sp)
			listeners += ",SASL_SSL://" + c.SecureAddr
			advertised += ",SASL_SSL://" + c.SecureAddr
			protocols += ",SASL_SSL:SASL_SSL"
			ca, keystore, err := certificates(ndir)
			if err != nil {
				tb.Fatal(err)
			}
			c.SCRAM = &SCRAM{User: "ferry", Password: "ferry-" + name + "-secret", CAFile: ca}
			extra = append(extra,
				"sasl.enabled.mechanisms=SCRAM-SHA-512",
				"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
				"ssl.keystore.type=PEM", "ssl.keystore.location="+keystore,
				"ssl.truststore.type=PEM", "ssl.truststore.location="+ca)
			if cfg.acls {
				extra = append(extra, "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
					"super.users=User:ferry;User:ANONYMOUS")
			}
		}
		props := append([]string{
			"process.roles=broker,controller",
			fmt.Sprintf("node.id=%d", i+1),
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"listeners=" + listeners,
			"advertised.listeners=" + advertised,
			"listener.security.protocol.map=" + protocols,
			"controller.listener.names=CONTROLLER",
			"inter.broker.listener.name=PLAINTEXT",
			"log.dirs=" + filepath.Join(ndir, "data"),
			fmt.Sprintf("default.replication.factor=%d", rf),
			fmt.Sprintf("min.insync.replicas=%d", minISR),
			fmt.Sprintf("offsets.topic.replication.factor=%d", rf),
			"offsets.topic.num.partitions=10",
			fmt.Sprintf("transaction.state.log.replication.factor=%d", rf),
			fmt.Sprintf("transaction.state.log.min.isr=%d", minISR),
			"transaction.state.log.num.partitions=5",
			fmt.Sprintf("share.coordinator.state.topic.replication.factor=%d", rf),
			fmt.Sprintf("share.coordinator.state.topic.min.isr=%d", minISR),
			"group.initial.rebalance.delay.ms=0",
			"auto.create.topics.enable=false",
			"log.segment.bytes=67108864",
			"log.cleaner.backoff.ms=1000",
		}, extra...)
		propsFile := filepath.Join(ndir, "server.properties")
		if err := os.WriteFile(propsFile, []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
		format := []string{"kafka.tools.StorageTool", "format", "-t", id, "-c", propsFile}
		if cfg.scram {
			format = append(format, "--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", c.SCRAM.User, c.SCRAM.Password))
		}
		formatStorage(tb, name, ndir, format)
		np := &process{name: fmt.Sprintf("kafka-%d", i+1), dir: ndir, args: []string{"kafka.Kafka", propsFile}}
		if cfg.nodes > 1 {
			np.jvm = []string{"-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1"}
		}
		c.procs = append(c.procs, np)
	}
	if cfg.nodes == 1 {
		c.procs[0].name = "kafka"
	}
	// Nodes start together: a controller quorum needs a majority before any node is ready.
	for _, p := range c.procs {
		if err := p.start(); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range c.procs {
		if err := c.waitNode(i); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// formatStorage formats a node's log dirs, once more if the JVM fails without a word (seen
// once on a loaded machine).
func formatStorage(tb testing.TB, name, dir string, args []string) {
	for attempt := 1; ; attempt++ {
		fp := &process{name: "format", dir: dir, args: args}
		if err := fp.start(); err != nil {
			tb.Fatal(err)
		}
		err := fp.cmd.Wait()
		fp.log.Close()
		if err == nil {
			return
		}
		if attempt == 2 || fp.tail(20) != "" {
			tb.Fatalf("format %s: %v\n%s", name, err, fp.tail(20))
		}
	}
}

// waitNode waits until node i answers metadata listing every node and a controller.
func (c *Cluster) waitNode(i int) error {
	if err := waitKafka(c.Addrs[i], len(c.procs), 90*time.Second); err != nil {
		return fmt.Errorf("kafka %s node %d: %w\n%s", c.Name, i+1, err, c.procs[i].tail(30))
	}
	return nil
}

// Restart stops every node (SIGKILL when hard, else a clean shutdown) and starts them again
// on the same data.
func (c *Cluster) Restart(hard bool) error {
	for i := range c.procs {
		c.StopNode(i, hard)
	}
	for _, p := range c.procs {
		if err := p.start(); err != nil {
			return err
		}
	}
	for i := range c.procs {
		if err := c.waitNode(i); err != nil {
			return err
		}
	}
	return nil
}

// StopNode stops node i: SIGKILL when hard, else a clean (controlled) shutdown.
func (c *Cluster) StopNode(i int, hard bool) {
	grace := 30 * time.Second
	if hard {
		grace = 0
	}
	c.procs[i].stop(grace)
}

// StartNode starts node i again on its data and waits until it is back in the cluster.
func (c *Cluster) StartNode(i int) error {
	if err := c.procs[i].start(); err != nil {
		return err
	}
	return c.waitNode(i)
}

// RollingRestart restarts the nodes one at a time, each back in the cluster and every
// partition in sync before the next goes, as an operator rolls a configuration change.
// whileDown, when set, is called while each node is stopped. It returns how long each node
// was away.
func (c *Cluster) RollingRestart(hard bool, whileDown func(node int)) ([]time.Duration, error) {
	var away []time.Duration
	for i := range c.procs {
		began := time.Now()
		c.StopNode(i, hard)
		if whileDown != nil {
			whileDown(i)
		}
		if err := c.StartNode(i); err != nil {
			return away, err
		}
		away = append(away, time.Since(began))
		if err := c.WaitInSync(2 * time.Minute); err != nil {
			return away, err
		}
	}
	return away, nil
}

// WaitInSync waits until no partition is under-replicated, as an operator does between two
// nodes of a rolling restart.
func (c *Cluster) WaitInSync(timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := adm.Metadata(ctx)
		cancel()
		under := -1
		if err == nil {
			under = 0
			for _, t := range m.Topics {
				for _, p := range t.Partitions {
					if len(p.ISR) < len(p.Replicas) {
						under++
					}
				}
			}
			if under == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafka %s: %d partitions under-replicated after %s (%v)", c.Name, under, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Stop stops every node cleanly.
func (c *Cluster) Stop() {
	for i := range c.procs {
		c.StopNode(i, false)
	}
}

// Bootstrap is every node's PLAINTEXT listener, comma-separated.
func (c *Cluster) Bootstrap() string { return strings.Join(c.Addrs, ",") }

// Client is a franz-go client of the PLAINTEXT listener.
func (c *Cluster) Client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs...)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// waitKafka waits until the broker at addr answers metadata listing all brokers and a
// controller.
func waitKafka(addr string, brokers int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(time.Second))
		if err == nil {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			m, merr := kadm.NewClient(cl).BrokerMetadata(rctx)
			rcancel()
			cl.Close()
			if merr == nil && len(m.Brokers) == brokers && m.Controller >= 0 {
				return nil
			}
			last = merr
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", timeout, last)
}

// clusterID is a random Kafka cluster id (a base64url UUID).
// clusterID is a random KRaft cluster id: base64url of 16 bytes, as kafka-storage
// random-uuid makes, never starting with '-', which the storage tool's argument parser would
// take for a flag (one format in 64 failed so).
func clusterID() string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

func mustPort(tb testing.TB) int {
	p, err := ports.Free()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
