package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/internal/mm2topic"
	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/workflows"
)

// A builtin mirror in three shards on three ferry worker processes and a ferry server
// process hosting Temporal only (--no-worker), copying while records keep coming: the worker running one shard is killed (SIGKILL), the shard restarts on
// another worker, a fourth worker joins later, and the migration ends exact: parity over every
// record, and every origin offset translating to the same next record on the target.
func TestShardedMirrorSurvivesALostWorker(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	const partitions = 12
	if _, err := kadm.NewClient(kclient(t, origin)).CreateTopic(context.Background(), partitions, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	addr, e := serverProcess(t, newCLI(t))
	var mu sync.Mutex
	workers := map[int]*exec.Cmd{} // by pid
	startWorker := func() {
		w := exec.Command(ferryBin, "--address", addr, "worker")
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		workers[w.Process.Pid] = w
		mu.Unlock()
	}
	defer func() {
		for _, w := range workers {
			_ = w.Process.Kill()
			_ = w.Wait()
		}
	}()
	for range 3 {
		startWorker()
	}

	// Records keep coming while the shards copy.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pctx, stopProducing := context.WithCancel(ctx)
	produced := make(chan int, 1)
	go func() {
		cl := kclient(t, origin, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		n := 0
		for pctx.Err() == nil {
			var rs []*kgo.Record
			for range 20 {
				rs = append(rs, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "customer-%d", n%50), Value: fmt.Appendf(nil, "order %d", n)})
				n++
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Error(err)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		produced <- n
	}()

	src := fmt.Sprintf(`
clusters:
  origin: %s
  target: %s
replication: {origin: origin, target: target, topics: {include: [orders]}, groups: {include: [billing]}, shards: "3"}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: gate, uses: approval}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0, interval: 200ms}}
  - {id: translate, uses: groups.translate}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
`, bootstrapYAML(origin), bootstrapYAML(target))
	r := e.run("sharded", workflows.Input{Plan: plan(t, src)})
	e.waitFor("sharded", "the gate", func(s *workflows.Status) bool { return step(s, "gate").Status == workflows.StepWaiting })
	if got := step(e.status("sharded"), "mirror").Outputs["shards"]; got != float64(3) {
		t.Fatalf("mirror.start says %v shards, want 3", got)
	}
	// copies are the shards copying now (started, heartbeating), by activity id.
	copies := func(minAttempt int32) map[string]*workflowpb.PendingActivityInfo {
		d, err := e.client.DescribeWorkflowExecution(ctx, "sharded-mirror", "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*workflowpb.PendingActivityInfo{}
		for _, pa := range d.PendingActivities {
			if pa.ActivityType.GetName() == "mirror.run" && pa.State == enumspb.PENDING_ACTIVITY_STATE_STARTED &&
				pa.HeartbeatDetails != nil && pa.Attempt >= minAttempt {
				out[pa.ActivityId] = pa
			}
		}
		return out
	}
	var running map[string]*workflowpb.PendingActivityInfo
	for running = copies(1); len(running) < 3; running = copies(1) {
		if ctx.Err() != nil {
			t.Fatalf("3 shards never copied at once: %v", running)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Kill the worker running copy-1.
	pid, err := strconv.Atoi(strings.SplitN(running["copy-1"].LastWorkerIdentity, "@", 2)[0])
	if err != nil {
		t.Fatalf("worker identity %q: %v", running["copy-1"].LastWorkerIdentity, err)
	}
	mu.Lock()
	victim := workers[pid]
	mu.Unlock()
	if victim == nil {
		t.Fatalf("copy-1 runs on %s, not one of the worker processes", running["copy-1"].LastWorkerIdentity)
	}
	killed := time.Now()
	if err := victim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.Wait()
	for {
		again := copies(1)
		if pa := again["copy-1"]; len(again) == 3 && pa.Attempt >= 2 {
			t.Logf("shard copy-1 resumed on %s %s after the kill", pa.LastWorkerIdentity, time.Since(killed).Round(100*time.Millisecond))
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("shard copy-1 never resumed: %v", again)
		}
		time.Sleep(100 * time.Millisecond)
	}
	startWorker() // a fourth worker joins
	time.Sleep(2 * time.Second)
	stopProducing()
	n := <-produced

	// billing has read part of each partition; its positions must move exactly.
	commits := kadm.Offsets{}
	for p := range int32(partitions) {
		commits.Add(kadm.Offset{Topic: "orders", Partition: p, At: int64(p*37) % 500, LeaderEpoch: -1})
	}
	if resp, err := kadm.NewClient(kclient(t, origin)).CommitOffsets(ctx, "billing", commits); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	if _, err := e.update("sharded", workflows.UpdateApprove, workflows.Approval{Step: "gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s := e.status("sharded")
	if got := step(s, "parity").Outputs["records"]; got != float64(n) {
		t.Fatalf("parity compared %v records, want all %d produced", got, n)
	}
	t.Logf("%d records over %d partitions copied by 3 shards on 4 worker processes, one killed", n, partitions)
	translatedExactly(ctx, t, origin, target, "orders", partitions, mm2topic.OffsetSyncs("origin"))
	got, err := kadm.NewClient(kclient(t, target)).FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(partitions) {
		c, _ := commits.Lookup("orders", p)
		if o, ok := got.Lookup("orders", p); !ok || o.At != c.At {
			t.Errorf("billing orders/%d: %d on the origin, %v on the target (no gaps: the same)", p, c.At, o.At)
		}
	}
}

// translatedExactly checks, for every offset of every partition, that the next record a
// consumer at that origin offset reads is the one at the offset it translates to.
func translatedExactly(ctx context.Context, t *testing.T, origin, target, topic string, partitions int32, syncTopic string) {
	t.Helper()
	m, err := mirror.LoadMapping(ctx, []kgo.Opt{kgo.SeedBrokers(target)}, syncTopic)
	if err != nil {
		t.Fatal(err)
	}
	read := func(addr string, p int32) []*kgo.Record {
		cl := kclient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup(topic, p)
		var out []*kgo.Record
		for len(out) == 0 || out[len(out)-1].Offset < end.Offset-1 {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %s/%d: %v", topic, p, ctx.Err())
			}
			out = append(out, fs.Records()...)
		}
		return out
	}
	for p := range partitions {
		o, tg := read(origin, p), read(target, p)
		if len(o) != len(tg) {
			t.Fatalf("%s/%d: %d records on the origin, %d on the target", topic, p, len(o), len(tg))
		}
		part := mirror.Partition{Topic: topic, Partition: p}
		end := tg[len(tg)-1].Offset + 1
		hasData := func(from, to int64) (bool, error) {
			return mirror.HasData(ctx, []kgo.Opt{kgo.SeedBrokers(origin)}, part, from, to)
		}
		for i, rec := range o {
			got, err := m.Translate(part, rec.Offset, end, hasData)
			if err != nil {
				t.Fatalf("%s: translate %d: %v", part, rec.Offset, err)
			}
			if got != tg[i].Offset || string(tg[i].Value) != string(rec.Value) {
				t.Fatalf("%s: origin %d (%s) translated to %d, but the same record is at target %d", part, rec.Offset, rec.Value, got, tg[i].Offset)
			}
		}
	}
}

// serverProcess starts ferry server --no-worker on c's port and state directory and returns
// its address and an env whose client reaches it: ferry worker processes, started by the
// test, run every step.
func serverProcess(t *testing.T, c *cli) (string, *env) {
	t.Helper()
	srv := c.start("server", "--no-worker")
	t.Cleanup(func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); <-srv.done })
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(srv.out.String(), "Temporal server on"); time.Sleep(100 * time.Millisecond) {
		select {
		case <-srv.done:
			t.Fatalf("ferry server ended: %v\n%s", srv.err, srv.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry server did not serve in 2 minutes:\n%s", srv.out.String())
		}
	}
	if !strings.Contains(srv.out.String(), "no worker here") {
		t.Fatalf("ferry server --no-worker says: %s", srv.out.String())
	}
	addr := "127.0.0.1:" + strconv.Itoa(c.port)
	cl, err := client.Dial(client.Options{HostPort: addr, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, client: cl, steps: newSteps(), sandboxes: &sandbox.Directory{}}
	t.Cleanup(e.stop)
	return addr, e
}

// A ferry server --no-worker hosts Temporal only: a run started there says no worker polls
// and waits, its status says why it cannot answer (exit 4), and a ferry worker process
// started later runs it to the end. Once every worker is gone again, finished runs answer
// status in full, and a running one says where the server last saw it.
func TestCLIServerWithoutWorker(t *testing.T) {
	c := newCLI(t)
	addr, _ := serverProcess(t, c)
	file := filepath.Join(t.TempDir(), "noop.yaml")
	_ = os.WriteFile(file, []byte("apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: noop}\nsteps:\n  - {id: a, uses: noop}\n"), 0o600)
	if out, code := c.run("run", "--detach", "--id", "waits", file); code != 0 || !strings.Contains(out, "no worker polls task queue ferry") {
		t.Fatalf("run on a server without a worker: %d %s", code, out)
	}
	if out, code := c.run("status", "waits"); code != 4 || !strings.Contains(out, "no worker polls task queue ferry") ||
		!strings.Contains(out, "the server last recorded it running") {
		t.Fatalf("status with no worker to answer: %d %s", code, out)
	}
	w := exec.Command(ferryBin, "--address", addr, "worker")
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Process.Kill(); _ = w.Wait() }()
	if out, code := c.run("watch", "waits"); code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("watch once a worker runs: %d %s", code, out)
	}
	dir := t.TempDir()
	fails, waiting := filepath.Join(dir, "fails.yaml"), filepath.Join(dir, "waiting.yaml")
	_ = os.WriteFile(fails, []byte("apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: fails}\nsteps:\n  - {id: a, uses: noop}\n  - {id: b, uses: fail, with: {message: drill found the standby behind}}\n"), 0o600)
	_ = os.WriteFile(waiting, []byte("apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: waiting}\nsteps:\n  - {id: a, uses: noop}\n  - {id: go_ahead, uses: approval}\n"), 0o600)
	if out, code := c.run("run", "--id", "fails", fails); code == 0 || !strings.Contains(out, "drill found the standby behind") {
		t.Fatalf("run of a failing runbook: %d %s", code, out)
	}
	if out, code := c.run("run", "--detach", "--id", "cancelled", waiting); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	if out, code := c.run("cancel", "--wait", "cancelled"); code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %d %s", code, out)
	}
	// billing is 20 records behind on orders/1: its groups.wait goes on, heartbeating.
	origin := kfakeCluster(t)
	seedOrigin(t, origin)
	draining := filepath.Join(dir, "draining.yaml")
	_ = os.WriteFile(draining, fmt.Appendf(nil, "apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: draining}\nclusters:\n  origin: {bootstrap: [%q]}\nsteps:\n  - {id: drained, uses: groups.wait, with: {cluster: origin, groups: [billing]}}\n", origin), 0o600)
	if out, code := c.run("run", "--detach", "--id", "draining", draining); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		if out, _ := c.run("status", "draining"); strings.Contains(out, "lag") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("groups.wait reports no lag:\n%s", out)
		}
	}

	// With every worker gone, runs that finished on their own still answer, at once and in
	// full, from the server's record of their end.
	_ = w.Process.Kill()
	_ = w.Wait()
	for id, want := range map[string][]string{
		"waits":     {`runbook noop  SUCCEEDED`, `✓ a +noop +succeeded`},
		"fails":     {`runbook fails  FAILED`, `✓ a +noop +succeeded`, `✗ b +fail +failed`, `error: step b: drill found the standby behind`},
		"cancelled": {`runbook waiting  CANCELLED`, `✓ a +noop +succeeded`, `⊘ go_ahead +approval +cancelled`, `error: cancelled`},
	} {
		start := time.Now()
		out, code := c.run("status", id)
		if code != 0 {
			t.Fatalf("status of %s, no worker: exit %d %s", id, code, out)
		}
		for _, w := range want {
			if !regexp.MustCompile(w).MatchString(out) {
				t.Errorf("status of %s, no worker: no %q in\n%s", id, w, out)
			}
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("status of %s waited %v for a worker", id, took)
		}
	}
	// A run still going cannot answer, but the server says where it last stood.
	if out, code := c.run("status", "draining"); code != 4 || !strings.Contains(out, "status of draining: no worker answered in time") ||
		!strings.Contains(out, "the server last recorded it running at drained") ||
		!regexp.MustCompile(`step drained started, attempt 1, last heartbeat \d+s ago`).MatchString(out) {
		t.Errorf("status of a running run, no worker: %d %s", code, out)
	}
}
