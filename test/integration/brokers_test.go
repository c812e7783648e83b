package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	kafkatest "github.com/ferryhq/ferry/test/kafka"
	"github.com/ferryhq/ferry/workflows"
)

// A migration with default runbook settings, between two three-broker Apache Kafka clusters
// (replication factor 3, min.insync.replicas 2), rides out the routine faults of a long run:
// while the mirror copies a live producer's orders, a rolling restart of the target, a leader
// change on the origin and one target broker killed and away for 30 s; then another rolling
// restart of the target, the cutover (wait, translate, parity, stop, clean-up) starting while
// its first broker is down. Nothing rolls back; parity is exact (0 lost, 0 duplicated) and
// the group lands exactly where it was.
func TestMigrationRidesOutBrokerFaults(t *testing.T) {
	began := time.Now()
	origin := kafkatest.StartCluster(t, "origin", kafkatest.WithBrokers(3))
	target := kafkatest.StartCluster(t, "target", kafkatest.WithBrokers(3))
	t.Logf("two three-broker clusters up in %s", time.Since(began).Round(time.Second))
	ctx := context.Background()
	oadm := kadm.NewClient(origin.Client(t))
	if _, err := oadm.CreateTopic(ctx, 3, -1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	p := startProducer(t, origin)
	p.waitFor(t, 300)
	// billing read 50 records of each partition and left (a group must be empty to move).
	var commit kadm.Offsets
	for part := range int32(3) {
		commit.Add(kadm.Offset{Topic: "orders", Partition: part, At: 50, LeaderEpoch: -1})
	}
	if _, err := oadm.CommitOffsets(ctx, "billing", commit); err != nil {
		t.Fatal(err)
	}

	list := func(c *kafkatest.Cluster) string {
		return fmt.Sprintf(`{bootstrap: ["%s"]}`, strings.Join(c.Addrs, `", "`))
	}
	src := fmt.Sprintf(`
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
  - {id: copying, uses: approval}
  - {id: caught_up, uses: mirror.wait}
  - {id: translate, uses: groups.translate}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
  - {id: cleanup, uses: topics.cleanup}
`, list(origin), list(target))
	e := start(t, "", newSteps())
	r := e.run("brokers", workflows.Input{Plan: plan(t, src)})
	e.waitFor("brokers", "the copy", func(s *workflows.Status) bool { return step(s, "copying").Status == workflows.StepWaiting })
	tclient := target.Client(t)
	copied := func() int64 {
		ends, err := kadm.NewClient(tclient).ListEndOffsets(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}

	away, err := target.RollingRestart(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("during the copy: target rolling restart, each broker away %v; %d orders acknowledged so far", away, p.acked.Load())
	moveLeader(t, oadm)
	before, stopped := copied(), time.Now()
	target.StopNode(1, true)
	time.Sleep(30 * time.Second)
	if err := target.StartNode(1); err != nil {
		t.Fatal(err)
	}
	t.Logf("target broker 2 killed and away %s: %d records copied meanwhile", time.Since(stopped).Round(time.Second), copied()-before)

	produced := p.stop(t)
	if err := target.WaitInSync(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		away, err := target.RollingRestart(false, func(node int) {
			if node != 0 {
				return
			}
			if _, err := e.update("brokers", workflows.UpdateApprove, workflows.Approval{Step: "copying", By: "test"}); err != nil {
				t.Error(err)
			}
		})
		t.Logf("during the cutover: target rolling restart, each broker away %v (%v)", away, err)
		if err != nil {
			t.Error(err)
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	runErr := r.Get(wctx, nil)
	wg.Wait()
	s := e.status("brokers")
	for _, st := range s.Steps {
		t.Logf("%-10s %-9s attempts %d %s %s", st.ID, st.Status, st.Attempts, st.EndedAt.Sub(*st.StartedAt).Round(time.Millisecond), st.LastError)
	}
	if runErr != nil || s.Phase != workflows.PhaseSucceeded {
		t.Fatalf("run %s: %v", s.Phase, runErr)
	}
	if got := step(s, "parity").Outputs["records"]; got != float64(produced) {
		t.Fatalf("parity compared %v records; the producer had %d acknowledged", got, produced)
	}
	got, err := kadm.NewClient(tclient).FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	for part := range int32(3) {
		if o, ok := got.Lookup("orders", part); !ok || o.At != 50 {
			t.Errorf("billing on the target at orders/%d: %+v, want 50", part, o)
		}
	}
	t.Logf("%d orders produced through the faults, all copied once; whole test %s", produced, time.Since(began).Round(time.Second))
}

// producer writes orders to a cluster until stopped, counting what the cluster acknowledged.
type producer struct {
	cl    *kgo.Client
	acked atomic.Int64
	fail  atomic.Pointer[error]
	done  chan struct{}
	quit  chan struct{}
}

func startProducer(t *testing.T, c *kafkatest.Cluster) *producer {
	p := &producer{cl: c.Client(t), done: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.quit:
				return
			case <-time.After(2 * time.Millisecond):
			}
			r := &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "customer-%d", i%97), Value: fmt.Appendf(nil, `{"order":%d}`, i)}
			p.cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				if err != nil {
					p.fail.CompareAndSwap(nil, &err)
					return
				}
				p.acked.Add(1)
			})
		}
	}()
	return p
}

func (p *producer) waitFor(t *testing.T, n int64) {
	for deadline := time.Now().Add(time.Minute); p.acked.Load() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the producer had %d records acknowledged after a minute", p.acked.Load())
		}
	}
}

// stop ends the producer once everything it sent is acknowledged; any failure fails the test.
func (p *producer) stop(t *testing.T) int64 {
	close(p.quit)
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e := p.fail.Load(); e != nil {
		t.Fatalf("the producer lost a record: %v", *e)
	}
	return p.acked.Load()
}

// moveLeader moves the leadership of orders/0 on the origin to another replica: a new replica
// order, then a preferred-leader election, as a rebalancing tool does.
func moveLeader(t *testing.T, adm *kadm.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md, err := adm.Metadata(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	p0 := md.Topics["orders"].Partitions[0]
	replicas := append(append([]int32(nil), p0.Replicas[1:]...), p0.Replicas[0])
	if replicas[0] == p0.Leader {
		replicas[0], replicas[1] = replicas[1], replicas[0]
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign("orders", 0, replicas)
	if _, err := adm.AlterPartitionAssignments(ctx, req); err != nil {
		t.Fatal(err)
	}
	set := kadm.TopicsSet{}
	set.Add("orders", 0)
	// The new replica order reaches the brokers' metadata a moment later: elect until the
	// leader is the new preferred one.
	for {
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
		md, merr := adm.Metadata(ctx, "orders")
		if merr == nil {
			if l := md.Topics["orders"].Partitions[0].Leader; l == replicas[0] {
				t.Logf("origin: leadership of orders/0 moved from broker %d to %d", p0.Leader, l)
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("electing broker %d leader of orders/0: %v %v %v", replicas[0], res, err, merr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
