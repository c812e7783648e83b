package integration

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/workflows"
)

// kfakeClusters numbers the test clusters: each has its own cluster id, as real clusters do
// (mirror.start refuses an origin and a target with the same one).
var kfakeClusters atomic.Int64

func kfakeCluster(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ClusterID(fmt.Sprintf("kfake-%d", kfakeClusters.Add(1))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func kclient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// seedOrigin writes the retailer's orders, with a committed and an aborted transaction on
// partition 0 so offsets have gaps, and commits a group's positions.
func seedOrigin(t *testing.T, addr string) {
	ctx := context.Background()
	adm := kadm.NewClient(kclient(t, addr))
	// The records carry 2023 timestamps: on Apache Kafka the default 7-day retention would
	// delete them at the first retention check, 30 s after the broker started (a slow CI
	// run saw parity compare what was left). topics.sync gives the target the same.
	never := "-1"
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": &never}, "orders"); err != nil {
		t.Fatal(err)
	}
	prod := kclient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for p := range int32(3) {
		for i := range 40 {
			rs = append(rs, &kgo.Record{Topic: "orders", Partition: p, Key: fmt.Appendf(nil, "customer-%d", i%7),
				Value:   fmt.Appendf(nil, `{"order":%d,"item":"jeans","size":%d}`, i, 28+i%10),
				Headers: []kgo.RecordHeader{{Key: "store", Value: []byte("loosehanger")}}, Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))})
		}
	}
	if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, commit := range []bool{false, true} {
		txn := kclient(t, addr, kgo.TransactionalID(fmt.Sprintf("orders-txn-%v", commit)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			txn.Produce(ctx, &kgo.Record{Topic: "orders", Partition: 0, Value: fmt.Appendf(nil, "txn %v %d", commit, i)}, nil)
		}
		if err := txn.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		awaitMarker(t, adm)
	}
	// billing read partition 0 up to inside the aborted transaction, partition 1 half-way,
	// partition 2 to the end.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 43, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 20, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "orders", Partition: 2, At: 40, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "billing", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
}

// awaitMarker waits until orders/0's transaction marker is in the log. Kafka 4 (transactions
// v2) answers EndTxn before the coordinator writes the marker, so without waiting the next
// transaction's records could land before the abort marker and shift the layout tests expect.
func awaitMarker(t *testing.T, adm *kadm.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ends, err := adm.ListEndOffsets(ctx, "orders")
		stable, err2 := adm.ListCommittedOffsets(ctx, "orders")
		if err == nil && err2 == nil {
			e, _ := ends.Lookup("orders", 0)
			s, _ := stable.Lookup("orders", 0)
			if e.Err == nil && s.Err == nil && s.Offset == e.Offset {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("orders/0: transaction marker not written: %v %v", err, err2)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// migrationRunbook moves orders and billing between two clusters, given as YAML flow mappings
// (e.g. {bootstrap: ["host:port"]}).
func migrationRunbook(origin, target string) string {
	return fmt.Sprintf(`
clusters:
  origin: %s
  target: %s
replication:
  origin: origin
  target: target
  topics: {include: ["orders"]}
  groups: {include: ["billing"]}
steps:
  - {id: check, uses: kafka.check}
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0, interval: 200ms}}
  - {id: translate, uses: groups.translate}
  - {id: drill, uses: drill.measure, with: {maxRPO: 1m, maxBehind: 0}}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
  - {id: cleanup, uses: topics.cleanup}
`, origin, target)
}

// TestMigrationOnKafka runs the migration steps on two kfake clusters through the real
// Temporal server, and checks the group lands exactly where it was on the origin.
func TestMigrationOnKafka(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin)
	e := start(t, "", newSteps())
	r := e.run("migrate", workflows.Input{Plan: plan(t, migrationRunbook(bootstrapYAML(origin), bootstrapYAML(target)))})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Get(ctx, nil); err != nil {
		s := e.status("migrate")
		for _, st := range s.Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	checkMigration(t, e, "migrate", kclient(t, target))
}

func bootstrapYAML(addr string) string { return fmt.Sprintf(`{bootstrap: ["%s"]}`, addr) }

// checkMigration checks what migrationRunbook must leave behind: parity over every committed
// record, billing's exact positions on the target, internal topics gone.
func checkMigration(t *testing.T, e *env, id string, target *kgo.Client) {
	t.Helper()
	checkMigrationOf(t, e, id, target, 3*40+5)
}

// checkMigrationOf is checkMigration for an origin that holds records committed records.
func checkMigrationOf(t *testing.T, e *env, id string, target *kgo.Client, records int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := e.status(id)
	for _, st := range s.Steps {
		t.Logf("%-10s %s", st.ID, st.EndedAt.Sub(*st.StartedAt))
	}
	if d := fmt.Sprint(step(s, "topics").Outputs["diff"]); !strings.Contains(d, "+ orders: 3 partitions") {
		t.Fatalf("topics.sync diff: %s", d)
	}
	// Right after the translation the target is a perfect standby.
	if d := step(s, "drill").Outputs; d["rpo"] != "0s" || d["lag"] != float64(0) || d["behind"] != float64(0) || d["missing"] != float64(0) {
		t.Fatalf("drill after the translation: %v", d)
	}
	if got := step(s, "parity").Outputs["records"]; got != float64(records) {
		t.Fatalf("parity compared %v records, want %d", got, records)
	}
	// Target offsets: partition 0 committed 43 = inside the aborted transaction at 40..44
	// (+ marker 45); the next committed record is the first of the committed transaction,
	// copied right after the 40 plain records: target 40. Partitions 1 and 2 have no gaps.
	got, err := kadm.NewClient(target).FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 40, 1: 20, 2: 40} {
		if o, ok := got.Lookup("orders", p); !ok || o.At != want {
			t.Errorf("billing orders/%d on target: got %v, want %d", p, o.At, want)
		}
	}
	topics, err := kadm.NewClient(target).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("mm2-offset-syncs.origin.internal") || !topics.Has("orders") {
		t.Fatalf("after cleanup the target has %v", topics.Names())
	}
}

func TestTranslateRefusesActiveTargetGroup(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin)
	// A consumer already runs in group billing on the target.
	if _, err := kadm.NewClient(kclient(t, target)).CreateTopic(context.Background(), 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	consumer := kclient(t, target, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.ClientID("billing-eu-1"))
	go func() {
		for {
			if fs := consumer.PollFetches(context.Background()); fs.IsClientClosed() {
				return
			}
		}
	}()
	time.Sleep(time.Second)
	e := start(t, "", newSteps())
	src := strings.Replace(migrationRunbook(bootstrapYAML(origin), bootstrapYAML(target)), "  - {id: cleanup, uses: topics.cleanup}\n", "", 1)
	r := e.run("active", workflows.Input{Plan: plan(t, src)})
	err := r.Get(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "billing has 1 active member") || !strings.Contains(err.Error(), "billing-eu-1") {
		t.Fatalf("want a refusal naming the active member, got %v", err)
	}
}
