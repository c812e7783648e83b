package kafkatest

import (
	"context"
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
	// URL is the REST endpoint, http://127.0.0.1:<port>.
	URL  string
	proc *process
}

// StartConnect starts a worker against bootstrap and waits until its REST API lists the
// MirrorMaker 2 connectors.
func StartConnect(tb testing.TB, bootstrap string) *Connect {
	tb.Helper()
	Skip(tb)
	c := &Connect{}
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
		fmt.Sprintf("listeners=http://127.0.0.1:%d", port),
		"rest.advertised.host.name=127.0.0.1",
		fmt.Sprintf("rest.advertised.port=%d", port),
		"plugin.discovery=only_scan",
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
		resp, err := http.DefaultClient.Do(req)
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
