package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/test/faults"
	"github.com/ferryhq/ferry/workflows"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A migration with default settings rides out the faults of a WAN link and of restarting
// brokers, injected on the wire between Ferry and both clusters:
//   - during the copy: 200 ms latency and a 256 KiB/s cap on the target, then a restart (every
//     connection reset, new ones refused for 12 s) while records still arrive on the origin;
//   - during groups.translate: a 30 s blackhole on the target;
//   - during verify.parity: 200 ms latency on both, a cap on the origin, and a 5 s restart of
//     the origin.
//
// It ends exact (every record once, the group at its exact position) and never rolls back.
func TestMigrationRidesOutInjectedFaults(t *testing.T) {
	toOrigin, toTarget := faults.New(), faults.New()
	origin, err := sandbox.Start("origin", "", kfake.ListenFn(toOrigin.Listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origin.Close)
	target, err := sandbox.Start("target", "", kfake.ListenFn(toTarget.Listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	seedOrigin(t, origin.Addr)
	e := start(t, "", newSteps())
	src := migrationRunbook(bootstrapYAML(origin.Addr), bootstrapYAML(target.Addr))
	for _, gate := range []string{"caught_up", "translate", "parity"} {
		src = strings.Replace(src, "  - {id: "+gate+",", "  - {id: before_"+gate+", uses: approval}\n  - {id: "+gate+",", 1)
	}
	r := e.run("faults", workflows.Input{Plan: plan(t, src)})
	approve := func(gate string) {
		e.waitFor("faults", gate, func(s *workflows.Status) bool { return step(s, gate).Status == workflows.StepWaiting })
		if _, err := e.update("faults", workflows.UpdateApprove, workflows.Approval{Step: gate, By: "test"}); err != nil {
			t.Fatal(err)
		}
	}

	// The copy: records keep arriving on the origin over a slow link that then breaks.
	toTarget.Slow(200*time.Millisecond, 256<<10)
	approve("before_caught_up")
	extra := produceFor(t, origin.Addr, 10*time.Second, 500)
	time.Sleep(4 * time.Second)
	toTarget.Down()
	time.Sleep(12 * time.Second)
	toTarget.Up()
	produced := <-extra

	approve("before_translate")
	toTarget.Blackhole()
	time.Sleep(30 * time.Second)
	toTarget.Up()

	toOrigin.Slow(200*time.Millisecond, 512<<10)
	toTarget.Slow(200*time.Millisecond, 0)
	approve("before_parity")
	time.Sleep(2 * time.Second)
	toOrigin.Down()
	time.Sleep(5 * time.Second)
	toOrigin.Up()
	toTarget.Up()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("faults").Steps {
			t.Logf("%s %s attempts %d: %s", st.ID, st.Status, st.Attempts, st.LastError)
		}
		t.Fatal(err)
	}
	s := e.status("faults")
	for id, outage := range map[string]time.Duration{"caught_up": 16 * time.Second, "translate": 30 * time.Second, "parity": 7 * time.Second} {
		st := step(s, id)
		took := st.EndedAt.Sub(*st.StartedAt)
		t.Logf("%s: %d attempts over %s", id, st.Attempts, took.Round(time.Millisecond))
		if took < outage-time.Second {
			t.Errorf("%s ended in %s, before its %s of faults did: it never met them", id, took, outage)
		}
	}
	t.Logf("%d records produced during the copy", produced)
	checkMigrationOf(t, e, "faults", kclient(t, target.Addr), 3*40+5+produced)
}

// produceFor writes records of size bytes to orders for d, and then sends how many it wrote.
func produceFor(t *testing.T, addr string, d time.Duration, size int) <-chan int {
	out := make(chan int, 1)
	prod := kclient(t, addr)
	go func() {
		n := 0
		value := []byte(strings.Repeat("j", size))
		for end := time.Now().Add(d); time.Now().Before(end); {
			rs := make([]*kgo.Record, 20)
			for i := range rs {
				rs[i] = &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "late-%d", n+i), Value: value}
			}
			if err := prod.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				break
			}
			n += len(rs)
			time.Sleep(100 * time.Millisecond)
		}
		out <- n
	}()
	return out
}

// mirror.start reports success only when both clusters answer: against a closed port the step
// itself fails, naming the cluster, in seconds, rather than a mirror.wait hours later.
func TestMirrorStartChecksBothClustersAnswer(t *testing.T) {
	origin := kfakeCluster(t)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := start(t, "", newSteps())
	r := e.run("closed", workflows.Input{Plan: plan(t, fmt.Sprintf(`
clusters:
  origin: %s
  target: %s
replication: {origin: origin, target: target}
steps:
  - {id: mirror, uses: mirror.start}
  - {id: warm, uses: mirror.wait}
`, bootstrapYAML(origin), bootstrapYAML(dead)))})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	if err := r.Get(ctx, nil); err == nil {
		t.Fatal("a mirror to a closed port started")
	}
	s := e.status("closed")
	st := step(s, "mirror")
	t.Logf("failed in %s: %s", time.Since(began).Round(time.Millisecond), st.LastError)
	if st.Status != workflows.StepFailed || !strings.Contains(st.LastError, "cluster target ("+dead+") unreachable") {
		t.Fatalf("mirror.start %s: %q", st.Status, st.LastError)
	}
	if w := step(s, "warm"); w.Status != "absent" && w.Status != workflows.StepPending {
		t.Fatalf("mirror.wait ran after a failed start: %s", w.Status)
	}
}
