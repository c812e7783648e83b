package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

// webhook records what is posted to it, as a Slack incoming webhook receives it.
type webhook struct {
	mu    sync.Mutex
	posts []posted
}

type posted struct {
	at   time.Time
	text string
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var body struct{ Text string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Text == "" {
		http.Error(rw, "want {\"text\": ...}", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.posts = append(w.posts, posted{time.Now(), body.Text})
	w.mu.Unlock()
}

// wait returns the first post starting with prefix, waiting up to d for it.
func (w *webhook) wait(t *testing.T, prefix string, d time.Duration) posted {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, p := range w.posts {
			if strings.HasPrefix(p.text, prefix) {
				w.mu.Unlock()
				return p
			}
		}
		w.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s posted within %s: %v", prefix, d, w.all())
	return posted{}
}

func (w *webhook) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, p := range w.posts {
		out = append(out, p.text)
	}
	return out
}

// TestStandbyWatchAlertsOncePerIncident: standby.watch watches a standby kept by a mirror;
// the mirror stops: one alert reaches the webhook within the heartbeat limit (the figure:
// seconds from the stop to the webhook call); it starts again: one recovery. Stopped by the
// approval beside it, the watch succeeds with its incident log.
func TestStandbyWatchAlertsOncePerIncident(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	origin, target := kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin)
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	t.Setenv("STANDBY_ALERTS", srv.URL)
	src := watchRunbook(origin, target, ", groups: {include: [billing]}", "maxHeartbeatAge: 2s, maxRPO: 1h")
	p := plan(t, src)
	runMirror := func() (stop func()) { return standbyMirror(t, ctx, p.Replication, origin, target) }
	stopMirror := runMirror()

	e := start(t, "", newSteps())
	r := e.run("watched", workflows.Input{Plan: p})
	e.waitFor("watched", "the watch to run", func(s *workflows.Status) bool { return step(s, "keep").Status == workflows.StepWaiting })
	time.Sleep(2 * time.Second) // healthy checks: nothing to say
	if posts := hook.all(); len(posts) > 0 {
		t.Fatalf("alerts while the standby is healthy: %v", posts)
	}

	stopMirror()
	stopped := time.Now()
	alert := hook.wait(t, "ALERT", 20*time.Second)
	t.Logf("alert latency after the mirror stopped: %.1fs (maxHeartbeatAge 2s, checks every 200ms): %s", alert.at.Sub(stopped).Seconds(), alert.text)
	if !strings.Contains(alert.text, "heartbeat") || !strings.Contains(alert.text, "origin → target") {
		t.Errorf("the alert does not say what is wrong: %s", alert.text)
	}
	time.Sleep(time.Second) // more failing checks: no more alerts
	stopMirror = runMirror()
	defer stopMirror()
	recovered := hook.wait(t, "RECOVERED", 20*time.Second)
	t.Logf("recovery %.1fs after the mirror started again: %s", recovered.at.Sub(alert.at).Seconds(), recovered.text)
	if posts := hook.all(); len(posts) != 2 {
		t.Fatalf("want one alert and one recovery, got %v", posts)
	}

	if _, err := e.update("watched", workflows.UpdateApprove, workflows.Approval{Step: "keep", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w := step(e.status("watched"), "watch")
	log, _ := w.Outputs["log"].([]any)
	if w.Status != workflows.StepSucceeded || w.Outputs["incidents"] != float64(1) || w.Outputs["alerts"] != float64(2) || len(log) != 1 ||
		!strings.Contains(fmt.Sprint(log[0]), "recovered after") {
		t.Fatalf("watch: %s %v", w.Status, w.Outputs)
	}
	t.Logf("watch outputs: %v", w.Outputs)
}

// watchRunbook watches the standby of origin's orders (and the groups given) on target, checking
// every 200 ms within limits and alerting STANDBY_ALERTS, until the approval beside it.
func watchRunbook(origin, target, groups, limits string) string {
	return fmt.Sprintf(`clusters:
  origin: {bootstrap: "%s"}
  target: {bootstrap: "%s"}
replication: {origin: origin, target: target, topics: {include: [orders]}%s}
steps:
  - id: standby
    parallel:
      - id: watch
        uses: standby.watch
        with: {interval: 200ms, %s, webhook: {env: STANDBY_ALERTS}}
      - {id: keep, uses: approval, with: {message: "stop watching?"}}
    endWith: keep
`, origin, target, groups, limits)
}

// standbyMirror runs the builtin mirror of rep from origin to target, heartbeating every
// 200 ms, as a backup run's mirror would, until the returned stop.
func standbyMirror(t *testing.T, ctx context.Context, rep *runbook.Replication, origin, target string) (stop func()) {
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- mirror.Run(mctx, mirror.Config{Origin: []kgo.Opt{kgo.SeedBrokers(origin)}, Target: []kgo.Opt{kgo.SeedBrokers(target)},
			SyncTopic: rep.SyncTopic(), Select: rep.Topics.Select, Rename: rep.TargetTopic, Discover: 100 * time.Millisecond,
			Heartbeat: &mirror.Heartbeat{Source: rep.OriginAlias(), Target: rep.Target}, HeartbeatInterval: 200 * time.Millisecond})
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mirror: %v", err)
		}
	}
}

// A watch that begins with its mirror finds no heartbeat at its first checks: that is not an
// incident until maxHeartbeatAge has passed with none. A flow whose mirror never comes alerts
// then.
func TestStandbyWatchGivesAFirstHeartbeatTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	origin, target, unmirrored := kfakeCluster(t), kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin) // records from 2023: maxRPO is set past their age
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	t.Setenv("STANDBY_ALERTS", srv.URL)
	watched := func(target string) string {
		return watchRunbook(origin, target, "", "maxHeartbeatAge: 3s, maxRPO: 100000h")
	}
	e := start(t, "", newSteps())
	p := plan(t, watched(target))
	e.run("starting", workflows.Input{Plan: p})
	e.waitFor("starting", "the watch to run", func(s *workflows.Status) bool { return step(s, "keep").Status == workflows.StepWaiting })
	defer standbyMirror(t, ctx, p.Replication, origin, target)()
	time.Sleep(4 * time.Second) // past maxHeartbeatAge: the mirror's heartbeats came in time
	if posts := hook.all(); len(posts) > 0 {
		t.Fatalf("alerts while the standby's mirror starts: %v", posts)
	}

	e.run("never", workflows.Input{Plan: plan(t, watched(unmirrored))})
	e.waitFor("never", "the watch to run", func(s *workflows.Status) bool { return step(s, "keep").Status == workflows.StepWaiting })
	began := time.Now()
	alert := hook.wait(t, "ALERT", 20*time.Second)
	t.Logf("alert %.1fs after the watch began: %s", alert.at.Sub(began).Seconds(), alert.text)
	if !strings.Contains(alert.text, "no heartbeat of this flow on target in 3s") || alert.at.Sub(began) < 2*time.Second {
		t.Fatalf("a flow with no mirror: %s, %.1fs after the watch began", alert.text, alert.at.Sub(began).Seconds())
	}
}
