package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/connect"
	"github.com/ferryhq/ferry/internal/mm2"
	kafkatest "github.com/ferryhq/ferry/test/kafka"
	"github.com/ferryhq/ferry/workflows"
)

// TestMigrationOnRealKafka is TestMigrationOnKafka on Apache Kafka 4.1 brokers, with the origin
// reached over SASL_SSL (SCRAM-SHA-512, a generated CA) through secret references.
func TestMigrationOnRealKafka(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin", kafkatest.WithSCRAM())
	target := kafkatest.StartCluster(t, "target")
	seedOrigin(t, origin.Addr)
	t.Setenv("ORIGIN_USER", origin.SCRAM.User)
	t.Setenv("ORIGIN_PASSWORD", origin.SCRAM.Password)
	secure := fmt.Sprintf(`{bootstrap: ["%s"], sasl: {mechanism: SCRAM-SHA-512, username: {env: ORIGIN_USER}, password: {env: ORIGIN_PASSWORD}}, tls: {ca: {file: "%s"}}}`,
		origin.SecureAddr, origin.SCRAM.CAFile)
	e := start(t, "", newSteps())
	r := e.run("migrate-real", workflows.Input{Plan: plan(t, migrationRunbook(secure, bootstrapYAML(target.Addr)))})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("migrate-real").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	checkMigration(t, e, "migrate-real", target.Client(t))
}

// TestMigrationOnRealKafkaWithConnect runs the same migration with the connect engine:
// MirrorMaker 2's connectors on a Kafka Connect worker copy the data, and Ferry's lag, exact
// translation and parity read what MirrorMaker 2 wrote (its offset syncs on the target).
// Connect serves its REST API over https and requires a client certificate.
func TestMigrationOnRealKafkaWithConnect(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin")
	target := kafkatest.StartCluster(t, "target")
	worker := kafkatest.StartConnect(t, target.Addr, kafkatest.WithHTTPS())
	seedOrigin(t, origin.Addr)
	src := strings.Replace(migrationRunbook(bootstrapYAML(origin.Addr), bootstrapYAML(target.Addr)),
		"replication:\n", fmt.Sprintf("replication:\n  engine: connect\n  connect: {url: %q, tls: {ca: {file: %q}, cert: {file: %q}, key: {file: %q}}}\n",
			worker.URL, worker.CAFile, worker.ClientCert, worker.ClientCert), 1)
	e := start(t, "", newSteps())
	r := e.run("migrate-connect", workflows.Input{Plan: plan(t, src)})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("migrate-connect").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	checkMigration(t, e, "migrate-connect", target.Client(t))
	cc := connect.New(worker.URL, "", "")
	cc.HTTP = worker.HTTP()
	if s, found, err := cc.Status(ctx, "ferry-it."+mm2.Source); err != nil || found {
		t.Fatalf("after mirror.stop the source connector is still there: %v %v", s, err)
	}
}

// TestMirrorSurvivesBrokerRestart kills the target broker (SIGKILL) while the builtin mirror
// copies, then checks the copy is exact: same count and digest in every partition, and exact
// translation for a group committed near the end.
func TestMirrorSurvivesBrokerRestart(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin")
	target := kafkatest.StartCluster(t, "target")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl := origin.Client(t, kgo.ProducerLinger(5*time.Millisecond))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	const n = 150_000
	value := make([]byte, 512)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "k%d", i%1000), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// billing is 100 records (and one per partition number) short of each partition's end.
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: "orders", Partition: o.Partition, At: o.Offset - 100 - int64(o.Partition), LeaderEpoch: -1})
	})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	e := start(t, "", newSteps())
	p := plan(t, fmt.Sprintf(`
clusters:
  origin: {bootstrap: ["%s"]}
  target: {bootstrap: ["%s"]}
replication: {origin: origin, target: target, topics: {include: [orders]}, groups: {include: [billing]}}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: gate, uses: approval}
  - {id: caught_up, uses: mirror.wait, with: {interval: 200ms}, timeout: 4m}
  - {id: translate, uses: groups.translate}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
`, origin.Addr, target.Addr))
	r := e.run("restart", workflows.Input{Plan: p})
	e.waitFor("restart", "the gate", func(s *workflows.Status) bool { return step(s, "gate").Status == workflows.StepWaiting })
	// Kill the target while the mirror copies.
	tadm := kadm.NewClient(target.Client(t))
	var copied int64
	for ctx.Err() == nil {
		copied = 0
		if ends, err := tadm.ListEndOffsets(ctx, "orders"); err == nil {
			ends.Each(func(o kadm.ListedOffset) { copied += o.Offset })
		}
		if copied > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := target.Restart(true); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the target broker (SIGKILL) with %d of %d records copied", copied, n)
	if _, err := e.update("restart", workflows.UpdateApprove, workflows.Approval{Step: "gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("restart").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	s := e.status("restart")
	if got := step(s, "parity").Outputs["records"]; got != float64(n) {
		t.Fatalf("parity compared %v records, want %d", got, n)
	}
	got, err := kadm.NewClient(target.Client(t)).FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		want := e.Offset - 100 - int64(e.Partition)
		if o, ok := got.Lookup("orders", e.Partition); !ok || o.At != want {
			t.Errorf("billing orders/%d: %v, want %d", e.Partition, o.At, want)
		}
	})
}
