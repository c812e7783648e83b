package integration

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	kafkatest "github.com/ferryhq/ferry/test/kafka"
	"github.com/ferryhq/ferry/workflows"
)

// TestCompactedTopicOnRealKafka mirrors a topic that Kafka's own log cleaner compacted
// (offsets with holes where older values were removed, tombstones kept) with each engine,
// and checks that a group committed inside a hole lands on the target at the record after
// the hole, a group at the end lands at the end, and parity holds record for record.
func TestCompactedTopicOnRealKafka(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	left := compactedCustomers(t, ctx, origin.Client(t))
	// billing stopped in partition 0's first hole and at partition 1's end. The next record
	// it reads is the first one after the hole: on the target, whose offsets are contiguous,
	// that is the number of records before the hole.
	hole, before := -1, 0
	for i := 1; i < len(left[0]); i++ {
		if left[0][i].Offset != left[0][i-1].Offset+1 {
			hole, before = int(left[0][i-1].Offset+1), i
			break
		}
	}
	if hole < 0 {
		t.Fatal("compaction left no hole in partition 0")
	}
	end1 := left[1][len(left[1])-1].Offset + 1
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "customers", Partition: 0, At: int64(hole), LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "customers", Partition: 1, At: end1, LeaderEpoch: -1})
	if resp, err := kadm.NewClient(origin.Client(t)).CommitOffsets(ctx, "billing", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	t.Logf("origin: partition 0 %d records, first hole at %d; partition 1 %d records up to offset %d", len(left[0]), hole, len(left[1]), end1)

	for _, engine := range []string{"builtin", "connect"} {
		t.Run(engine, func(t *testing.T) {
			target := kafkatest.StartCluster(t, "target-"+engine)
			replication := "replication:\n"
			if engine == "connect" {
				worker := kafkatest.StartConnect(t, target.Addr)
				// offset.lag.max 100: MM2 syncs rarely, so translation finds the record by content.
				replication += fmt.Sprintf("  engine: connect\n  connect: {url: %q}\n  mm2: {offsetLagMax: 100}\n", worker.URL)
			}
			e := start(t, "", newSteps())
			id := "compacted-" + engine
			r := e.run(id, workflows.Input{Plan: plan(t, fmt.Sprintf(`
clusters:
  origin: {bootstrap: ["%s"]}
  target: {bootstrap: ["%s"]}
%s  origin: origin
  target: target
  topics: {include: [customers]}
  groups: {include: [billing]}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0, interval: 200ms}, timeout: 3m}
  - {id: translate, uses: groups.translate}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
`, origin.Addr, target.Addr, replication))})
			if err := r.Get(ctx, nil); err != nil {
				for _, st := range e.status(id).Steps {
					t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
				}
				t.Fatal(err)
			}
			s := e.status(id)
			if got, want := step(s, "parity").Outputs["records"], float64(len(left[0])+len(left[1])); got != want {
				t.Fatalf("parity compared %v records, want %v", got, want)
			}
			got, err := kadm.NewClient(target.Client(t)).FetchOffsets(ctx, "billing")
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range map[int32]int64{0: int64(before), 1: int64(len(left[1]))} {
				if o, ok := got.Lookup("customers", p); !ok || o.At != want {
					t.Errorf("billing customers/%d on target: got %v, want %d", p, o.At, want)
				}
			}
			// Tools built on MirrorMaker 2's client read Ferry's exact translation from the
			// checkpoints it wrote. (With the connect engine MM2's checkpoint task writes the
			// same topic, so what comes last there is MM2's.)
			if n := step(s, "translate").Outputs["checkpoints"]; n != float64(2) {
				t.Fatalf("groups.translate wrote %v checkpoints, want 2", n)
			}
			if engine == "builtin" {
				mm2 := kafkatest.RemoteOffsets(t, target.Addr, "origin", "billing")
				want := map[string]int64{"customers/0": int64(before), "customers/1": int64(len(left[1]))}
				if fmt.Sprint(mm2) != fmt.Sprint(want) {
					t.Fatalf("RemoteClusterUtils.translateOffsets read %v from Ferry's checkpoints, want %v", mm2, want)
				}
			}
			// The target's copy is the compacted log as it was: same keys, values and
			// tombstones, in order, and its topic is compacted too.
			for p := range int32(2) {
				copied := readPartition(t, ctx, target.Client(t), "customers", p)
				if len(copied) != len(left[p]) {
					t.Fatalf("target customers/%d has %d records, origin %d", p, len(copied), len(left[p]))
				}
				for i := range copied {
					a, b := left[p][i], copied[i]
					if !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || (a.Value == nil) != (b.Value == nil) || !a.Timestamp.Equal(b.Timestamp) {
						t.Fatalf("customers/%d record %d: origin %s=%q, target %s=%q", p, i, a.Key, a.Value, b.Key, b.Value)
					}
				}
			}
			rcs, err := kadm.NewClient(target.Client(t)).DescribeTopicConfigs(ctx, "customers")
			if err != nil {
				t.Fatal(err)
			}
			if c, err := rcs.On("customers", nil); err != nil || !hasConfig(c, "cleanup.policy", "compact") {
				t.Fatalf("target topic is not compacted: %v %v", c.Configs, err)
			}
		})
	}
}

// compactedCustomers writes four rounds of every customer's address (deleting some
// customers in round three) on a compacted topic, then one round of new customers so the
// earlier segments close, and waits until the log cleaner has left one record per key. It
// returns what is left, by partition.
func compactedCustomers(t *testing.T, ctx context.Context, cl *kgo.Client) map[int32][]*kgo.Record {
	t.Helper()
	s := func(v string) *string { return &v }
	cfg := map[string]*string{"cleanup.policy": s("compact"), "segment.ms": s("100"), "min.cleanable.dirty.ratio": s("0.01")}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, cfg, "customers"); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		var rs []*kgo.Record
		for p := range int32(2) {
			for k := range 50 {
				r := &kgo.Record{Topic: "customers", Partition: p, Key: fmt.Appendf(nil, "customer-%d", k),
					Value:     fmt.Appendf(nil, `{"address":"%d Harbour Road"}`, round*100+k),
					Timestamp: time.UnixMilli(1_700_000_000_000 + int64(round*1000+k))}
				switch {
				case round == 4:
					r.Key = fmt.Appendf(nil, "new-customer-%d", k) // fresh keys: the active segment needs no cleaning
				case round == 2 && k%5 == 0:
					r.Value = nil // a tombstone
				case round == 3 && (k%5 == 0 || k%3 == 0):
					continue // deleted customers, and some that kept their round-2 address
				}
				rs = append(rs, r)
			}
		}
		prod := kclientOf(t, cl, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // older than segment.ms: the next round rolls the segment
	}
	for ctx.Err() == nil {
		left := map[int32][]*kgo.Record{}
		clean := true
		for p := range int32(2) {
			left[p] = readPartition(t, ctx, cl, "customers", p)
			seen := map[string]bool{}
			for _, r := range left[p] {
				if seen[string(r.Key)] {
					clean = false
				}
				seen[string(r.Key)] = true
			}
		}
		if clean {
			return left
		}
		time.Sleep(time.Second)
	}
	t.Fatal("the log cleaner did not compact customers in time")
	return nil
}

func readPartition(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, p int32) []*kgo.Record {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, p)
	c := kclientOf(t, cl, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
	defer c.Close()
	var out []*kgo.Record
	for end.Offset > 0 {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			done = done || r.Offset+1 >= end.Offset
		})
		if done {
			break
		}
	}
	return out
}

// kclientOf opens another client to cl's cluster.
func kclientOf(t *testing.T, cl *kgo.Client, opts ...kgo.Opt) *kgo.Client {
	seeds := cl.OptValues(kgo.SeedBrokers)[0].([]string)
	return kclient(t, seeds[0], opts...)
}

func hasConfig(c kadm.ResourceConfig, key, value string) bool {
	for _, kv := range c.Configs {
		if kv.Key == key && kv.Value != nil && *kv.Value == value {
			return true
		}
	}
	return false
}
