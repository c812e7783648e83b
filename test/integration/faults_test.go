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
)

// A migration with default settings rides out the target going away twice: a restart (every
// connection reset, new ones refused for 12 s) while the mirror copies and mirror.wait
// measures, and a 12 s blackhole while groups.translate moves the group. It ends exact and
// does not roll back.
func TestMigrationRidesOutTargetOutages(t *testing.T) {
	origin := kfakeCluster(t)
	sw := faults.New()
	target, err := sandbox.Start("target", "", kfake.ListenFn(sw.Listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	seedOrigin(t, origin)
	e := start(t, "", newSteps())
	src := migrationRunbook(bootstrapYAML(origin), bootstrapYAML(target.Addr))
	src = strings.Replace(src, "  - {id: caught_up,", "  - {id: before_wait, uses: approval}\n  - {id: caught_up,", 1)
	src = strings.Replace(src, "  - {id: translate,", "  - {id: before_translate, uses: approval}\n  - {id: translate,", 1)
	r := e.run("outages", workflows.Input{Plan: plan(t, src)})

	outage := func(gate string, fault func()) {
		e.waitFor("outages", gate, func(s *workflows.Status) bool { return step(s, gate).Status == workflows.StepWaiting })
		fault()
		if _, err := e.update("outages", workflows.UpdateApprove, workflows.Approval{Step: gate, By: "test"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(12 * time.Second)
		sw.Up()
	}
	outage("before_wait", sw.Down)
	outage("before_translate", sw.Blackhole)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("outages").Steps {
			t.Logf("%s %s attempts %d: %s", st.ID, st.Status, st.Attempts, st.LastError)
		}
		t.Fatal(err)
	}
	s := e.status("outages")
	for _, id := range []string{"caught_up", "translate"} {
		st := step(s, id)
		t.Logf("%s: %d attempts over %s", id, st.Attempts, st.EndedAt.Sub(*st.StartedAt).Round(time.Millisecond))
		if st.EndedAt.Sub(*st.StartedAt) < 10*time.Second {
			t.Errorf("%s ended before the outage did: it never met it", id)
		}
	}
	checkMigration(t, e, "outages", kclient(t, target.Addr))
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
