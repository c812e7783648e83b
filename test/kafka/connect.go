package kafkatest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Connect is a Kafka Connect distributed worker with the MirrorMaker 2 connectors on its
// classpath, storing its state in the cluster it is given (MirrorMaker 2's target).
type Connect struct {
	// URL is the REST endpoint, http://127.0.0.1:<port> (https:// WithHTTPS).
	URL string
	// WithHTTPS: CAFile is the PEM certificate clients trust; ClientCert is a PEM file with
	// the key and certificate chain the server accepts.
	CAFile, ClientCert string
	proc               *process
	client             *http.Client
}

// HTTP is a client of the REST API (with the client certificate WithHTTPS).
func (c *Connect) HTTP() *http.Client { return c.client }

// ConnectOption configures a Connect worker.
type ConnectOption func(*connectConfig)

type connectConfig struct{ https bool }

// WithHTTPS serves the REST API over TLS only, with client certificates required.
func WithHTTPS() ConnectOption { return func(c *connectConfig) { c.https = true } }

// StartConnect starts a worker against bootstrap and waits until its REST API lists the
// MirrorMaker 2 connectors.
func StartConnect(tb testing.TB, bootstrap string, opts ...ConnectOption) *Connect {
	tb.Helper()
	Skip(tb)
	var cfg connectConfig
	for _, o := range opts {
		o(&cfg)
	}
	c := &Connect{client: http.DefaultClient}
	dir := workDir(tb, "connect", func() []*process {
		if c.proc == nil {
			return nil
		}
		return []*process{c.proc}
	})
	port := mustPort(tb)
	c.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	props := []string{
		"bootstrap.servers=" + bootstrap,
		"group.id=ferry-test-connect",
		"key.converter=org.apache.kafka.connect.converters.ByteArrayConverter",
		"value.converter=org.apache.kafka.connect.converters.ByteArrayConverter",
		"config.storage.topic=ferry-test-connect-configs",
		"offset.storage.topic=ferry-test-connect-offsets",
		"status.storage.topic=ferry-test-connect-status",
		"config.storage.replication.factor=1",
		"offset.storage.replication.factor=1",
		"status.storage.replication.factor=1",
		"offset.flush.interval.ms=1000",
		"rest.advertised.host.name=127.0.0.1",
		fmt.Sprintf("rest.advertised.port=%d", port),
		"plugin.discovery=only_scan",
	}
	if !cfg.https {
		props = append(props, fmt.Sprintf("listeners=http://127.0.0.1:%d", port))
	} else {
		if err := c.https(dir, port); err != nil {
			tb.Fatal(err)
		}
		props = append(props,
			fmt.Sprintf("listeners=https://127.0.0.1:%d", port),
			"rest.advertised.listener=https",
			"listeners.https.ssl.keystore.location="+filepath.Join(dir, "server.p12"),
			"listeners.https.ssl.keystore.type=PKCS12",
			"listeners.https.ssl.keystore.password="+storePassword,
			"listeners.https.ssl.key.password="+storePassword,
			"listeners.https.ssl.truststore.location="+filepath.Join(dir, "trust.p12"),
			"listeners.https.ssl.truststore.type=PKCS12",
			"listeners.https.ssl.truststore.password="+storePassword,
			"listeners.https.ssl.client.auth=required")
	}
	propsFile := filepath.Join(dir, "connect.properties")
	if err := os.WriteFile(propsFile, []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	c.proc = &process{name: "connect", dir: dir, args: []string{"org.apache.kafka.connect.cli.ConnectDistributed", propsFile}}
	if err := c.proc.start(); err != nil {
		tb.Fatal(err)
	}
	if err := c.wait(120 * time.Second); err != nil {
		tb.Fatalf("kafka connect: %v\n%s", err, c.proc.tail(30))
	}
	return c
}

func (c *Connect) wait(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/connector-plugins", nil)
		resp, err := c.client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), "MirrorSourceConnector") {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("REST API not ready after %s: %s", timeout, last)
}

// https makes the stores, the client's certificate and a client that uses them.
func (c *Connect) https(dir string, port int) error {
	ca, keystore, err := certificates(dir)
	if err != nil {
		return err
	}
	server, err := restStores(dir, ca)
	if err != nil {
		return err
	}
	pemCA, err := os.ReadFile(server)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	kp, err := tls.LoadX509KeyPair(keystore, keystore)
	if err != nil {
		return err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	c.CAFile, c.ClientCert = server, keystore
	c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}}}
	return nil
}

// Stop stops the worker.
func (c *Connect) Stop() { c.proc.stop(30 * time.Second) }

// RemoteOffsets is MirrorMaker 2's own reading of the checkpoints on the cluster at
// bootstrap for group, mirrored from sourceAlias (RemoteClusterUtils.translateOffsets): the
// target offset per "topic/partition".
func RemoteOffsets(tb testing.TB, bootstrap, sourceAlias, group string) map[string]int64 {
	tb.Helper()
	Skip(tb)
	_, file, _, _ := runtime.Caller(0)
	p := &process{name: "remote-offsets", dir: tb.TempDir(),
		args: []string{filepath.Join(filepath.Dir(file), "java", "RemoteOffsets.java"), bootstrap, sourceAlias, group}}
	if err := p.start(); err != nil {
		tb.Fatal(err)
	}
	err := p.cmd.Wait()
	p.log.Close()
	out := map[string]int64{}
	for _, l := range strings.Split(p.tail(1000), "\n") {
		var topic string
		var part int32
		var off int64
		if n, _ := fmt.Sscanf(l, "offset %s %d %d", &topic, &part, &off); n == 3 {
			out[fmt.Sprintf("%s/%d", topic, part)] = off
		}
	}
	if err != nil {
		tb.Fatalf("RemoteClusterUtils.translateOffsets: %v\n%s", err, p.tail(30))
	}
	return out
}

// Pid is the worker JVM's process id (to measure what it uses).
func (c *Connect) Pid() int { return c.proc.cmd.Process.Pid }
