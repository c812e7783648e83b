package integration

import (
	"context"
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
