package integration

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

// TestBackupAndRestore is seed 002 on the sample runbooks: runbooks/backup.yaml keeps a
// backup while the apps run; the primary region is lost; runbooks/restore.yaml recreates it
// from the backup and starts the apps on it. The consumer resumes where it stopped: every
// record produced before the loss and after the restore is processed, none twice.
func TestBackupAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	primary, backup := sandboxCluster(t, "primary"), sandboxCluster(t, "backup")
	seeded, err := sandbox.SeedOrders(ctx, primary.Addr, 3, 600)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, "", newSteps())
	ledger, producer, consumer := sandboxApps(t, ctx, e.sandboxes, primary.Addr, backup.Addr)
	hook := &webhook{}
	alerts := httptest.NewServer(hook)
	defer alerts.Close()
	t.Setenv("FERRY_ALERT_WEBHOOK", alerts.URL)
	// The sample syncs groups every 10s and checks the backup every 30s; the test does not
	// wait that long.
	r := e.run("backup", workflows.Input{Plan: sampleRunbook(t, "backup.yaml", "syncGroups: 10s", "syncGroups: 200ms", "interval: 30s", "interval: 200ms")})
	e.waitFor("backup", "the backup to run", func(s *workflows.Status) bool { return step(s, "keep").Status == workflows.StepWaiting })
	time.Sleep(time.Second) // the apps work; the backup follows

	// A DR drill (runbooks/drill.yaml) on the running backup passes and measures it.
	if err := e.run("drill", workflows.Input{Plan: sampleRunbook(t, "drill.yaml")}).Get(ctx, nil); err != nil {
		for _, st := range e.status("drill").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	m := step(e.status("drill"), "measure").Outputs
	if rpo, err := time.ParseDuration(m["rpo"].(string)); err != nil || rpo > 5*time.Second || m["missing"] != float64(0) {
		t.Fatalf("drill on a live backup: %v", m)
	}
	t.Logf("drill: %v", m["report"])

	// The region goes dark: its apps stop (the consumer commits what it processed), and once
	// the backup holds everything, the cluster is lost.
	for _, a := range []sandbox.App{producer, consumer} {
		if _, err := a.Scale(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	padm, badm := kadm.NewClient(kclient(t, primary.Addr)), kadm.NewClient(kclient(t, backup.Addr))
	committed, err := padm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	// The producer writes transactions, so the backup's offsets differ from the primary's:
	// wait until its billing is the exact translation of the primary's and it holds every record.
	want := map[int32]int64{}
	for {
		m, err := mirror.LoadMapping(ctx, []kgo.Opt{kgo.SeedBrokers(backup.Addr)}, "mm2-offset-syncs.north_america.internal")
		if err != nil {
			t.Fatal(err)
		}
		bends, err1 := badm.ListEndOffsets(ctx, "orders")
		got, err2 := badm.FetchOffsets(ctx, "billing")
		same := err1 == nil && err2 == nil
		committed.Each(func(o kadm.OffsetResponse) {
			part := mirror.Partition{Topic: o.Topic, Partition: o.Partition}
			end, _ := bends.Lookup(o.Topic, o.Partition)
			at, err := m.Translate(part, o.At, end.Offset, func(from, to int64) (bool, error) {
				return mirror.HasData(ctx, []kgo.Opt{kgo.SeedBrokers(primary.Addr)}, part, from, to)
			})
			want[o.Partition] = at
			if g, ok := got.Lookup(o.Topic, o.Partition); err != nil || !ok || g.At != at {
				same = false
			}
		})
		if same {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the backup's billing is %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("billing on the backup, translated: %v", want)
	if _, err := e.update("backup", workflows.UpdateApprove, workflows.Approval{Step: "keep", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The backup was watched all along, and healthy: checks made, nothing to alert.
	if w := step(e.status("backup"), "watch"); w.Status != workflows.StepSucceeded || w.Outputs["checks"].(float64) < 3 ||
		w.Outputs["incidents"] != float64(0) || len(hook.all()) > 0 {
		t.Fatalf("the backup's watch: %s %v, alerts %v", w.Status, w.Outputs, hook.all())
	}
	// A drill that fails (no group may be behind at all: -1) is heard: its onFailure posts.
	if err := e.run("drill-fails", workflows.Input{Plan: sampleRunbook(t, "drill.yaml", "default: 10000", "default: -1")}).Get(ctx, nil); err == nil {
		t.Fatal("a drill with maxBehind -1 passed")
	}
	heard := hook.wait(t, "DR drill north_america -> europe FAILED (run drill-fails): step measure: drill failed", 10*time.Second)
	t.Logf("a failing drill is heard: %s", heard.text)
	primary.Close()
	before := ledger.Counts()
	t.Logf("before the loss: produced %d, processed %d", before.Produced, before.Consumed)

	// A new, empty North America.
	fresh := sandboxCluster(t, "primary-new")
	e.sandboxes.Set("origin", fresh.Addr)
	r = e.run("restore", workflows.Input{Plan: sampleRunbook(t, "restore.yaml")})
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("restore").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	s := e.status("restore")
	if got := step(s, "parity").Outputs["records"]; got != float64(before.Produced+seeded) {
		t.Fatalf("parity compared %v records, want %d seeded + %d produced", got, seeded, before.Produced)
	}
	t.Logf("group positions restored: %v", step(s, "positions").Outputs["offsets"])

	// The apps run on the new cluster: stop the producer, let the consumer drain, stop it.
	time.Sleep(time.Second)
	n := stopApps(t, ctx, fresh.Addr, ledger, producer, consumer)
	if n.Produced <= before.Produced {
		t.Fatal("nothing was produced on the restored cluster")
	}
	if n.Lost != 0 || n.Duplicates != 0 {
		t.Fatalf("lost %d, processed twice %d", n.Lost, n.Duplicates)
	}

	// Re-protect: restore.yaml ended by starting backup.yaml from the restored cluster, as a
	// run of its own (protect=after). The restore's mirror.reverse prepared it: the backup
	// gains exactly what the apps wrote on the new cluster, so both hold the same records, in
	// the same order, none twice.
	if got := step(s, "reprotect").Outputs; got["partitions"] != float64(3) {
		t.Fatalf("reprotect: %v", got)
	}
	if got := step(s, "protect").Outputs; got["id"] != "restore-protect" || step(s, "protect_first").Status != workflows.StepSkipped {
		t.Fatalf("the new backup: %v (protect_first %s)", got, step(s, "protect_first").Status)
	}
	e.waitFor("restore-protect", "the new backup to run", func(s *workflows.Status) bool { return step(s, "keep").Status == workflows.StepWaiting })
	digests := func(addr string) map[mirror.Partition]mirror.Digest {
		ends, err := kadm.NewClient(kclient(t, addr)).ListEndOffsets(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		from, to := map[mirror.Partition]int64{}, map[mirror.Partition]int64{}
		ends.Each(func(o kadm.ListedOffset) {
			p := mirror.Partition{Topic: o.Topic, Partition: o.Partition}
			from[p], to[p] = 0, o.Offset
		})
		d, err := mirror.Digests(ctx, []kgo.Opt{kgo.SeedBrokers(addr)}, from, to, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	restored := digests(fresh.Addr)
	for {
		again, differ := digests(backup.Addr), ""
		for p, d := range restored {
			if b := again[p]; b.Records != d.Records || b.SHA256 != d.SHA256 {
				differ = fmt.Sprintf("%s: the restored cluster holds %d records, the backup %d (digests equal: %v)", p, d.Records, b.Records, b.SHA256 == d.SHA256)
			}
		}
		if differ == "" {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(differ)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := e.update("restore-protect", workflows.UpdateApprove, workflows.Approval{Step: "keep", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.GetWorkflow(ctx, "restore-protect", "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("re-protected: the backup holds the restored cluster's %d partitions record for record", len(restored))
}

// sandboxApps starts the sample runbooks' apps (orders-producer and billing) on origin and
// points the runbooks' sandbox names at origin, target and the apps' control endpoint.
func sandboxApps(t *testing.T, ctx context.Context, dir *sandbox.Directory, origin, target string) (*sandbox.Ledger, *sandbox.Producer, *sandbox.Consumer) {
	t.Helper()
	ledger, apps := sampleApps(t, ctx, dir, origin, target)
	return ledger, apps.Producer, apps.Billing
}

// sampleApps is sandboxApps with every sample app, billing-new (stopped, on target) too.
func sampleApps(t *testing.T, ctx context.Context, dir *sandbox.Directory, origin, target string) (*sandbox.Ledger, sandbox.SampleApps) {
	t.Helper()
	ledger := sandbox.NewLedger()
	apps := sandbox.NewSampleApps(origin, target, 300, ledger)
	producer, consumer := apps.Producer, apps.Billing
	control, err := sandbox.Serve(apps.All())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(control.Close)
	t.Cleanup(func() { _, _ = apps.BillingNew.Scale(context.Background(), 0) })
	dir.Set("origin", origin)
	dir.Set("target", target)
	dir.Set(sandbox.ControlName, control.Addr)
	for _, a := range []sandbox.App{producer, consumer} {
		if _, err := a.Scale(ctx, 1); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = a.Scale(context.Background(), 0) })
	}
	return ledger, apps
}

// stopApps stops the producer, lets billing drain on the cluster at addr (reached with opts),
// stops billing, and returns what the ledger counted.
func stopApps(t *testing.T, ctx context.Context, addr string, ledger *sandbox.Ledger, producer *sandbox.Producer, consumer *sandbox.Consumer, opts ...kgo.Opt) sandbox.Counts {
	t.Helper()
	if _, err := producer.Scale(ctx, 0); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(kclient(t, addr, opts...))
	for {
		lag, err := adm.Lag(ctx, "billing")
		if err == nil && lag["billing"].Lag.Total() == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("billing did not drain on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := consumer.Scale(ctx, 0); err != nil {
		t.Fatal(err)
	}
	n := ledger.Counts()
	t.Logf("produced %d, processed %d, processed twice %d, lost %d", n.Produced, n.Consumed, n.Duplicates, n.Lost)
	return n
}

// sampleRunbook compiles a runbook from runbooks/, after replacing old with new strings.
func sampleRunbook(t *testing.T, name string, replace ...string) *runbook.Plan {
	t.Helper()
	b, err := os.ReadFile("../../runbooks/" + name)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(src, replace[i]) {
			t.Fatalf("%s has no %q", name, replace[i])
		}
		src = strings.Replace(src, replace[i], replace[i+1], 1)
	}
	return compile(t, "../../runbooks/"+name, src) // runbook.start finds its runbooks beside it
}
