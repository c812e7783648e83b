package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mirror"
	kafkatest "github.com/ferryhq/ferry/test/kafka"
	"github.com/ferryhq/ferry/test/torture"
	"github.com/ferryhq/ferry/workflows"
)

// The awkward records (test/torture) migrate exactly on kfake: parity over every record and a
// group's exact position in every topic.
func TestTortureOnKafka(t *testing.T) {
	migrateTorture(t, kfakeCluster(t), kfakeCluster(t))
}

// The same on Apache Kafka 4.1, where codecs, LogAppendTime and size limits are the real
// broker's.
func TestTortureOnRealKafka(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin")
	target := kafkatest.StartCluster(t, "target")
	migrateTorture(t, origin.Addr, target.Addr)
}

const tortureSteps = `
replication:
  origin: origin
  target: target
  topics: {include: ["torture\\..*"]}
  groups: {include: [torture-reader]}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0, interval: 200ms}}
  - {id: translate, uses: groups.translate}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
`

func migrateTorture(t *testing.T, origin, target string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	counts, err := torture.Write(ctx, kgo.SeedBrokers(origin), kgo.ProducerBatchMaxBytes(2<<20))
	if err != nil {
		t.Fatal(err)
	}
	// The reader stopped halfway through every topic.
	at := kadm.Offsets{}
	total := 0
	for topic, n := range counts {
		at.Add(kadm.Offset{Topic: topic, Partition: 0, At: int64(n / 2), LeaderEpoch: -1})
		total += n
	}
	if _, err := kadm.NewClient(kclient(t, origin)).CommitOffsets(ctx, "torture-reader", at); err != nil {
		t.Fatal(err)
	}
	e := start(t, "", newSteps())
	src := fmt.Sprintf("clusters:\n  origin: %s\n  target: %s\n%s", bootstrapYAML(origin), bootstrapYAML(target), tortureSteps)
	r := e.run("torture", workflows.Input{Plan: plan(t, src)})
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("torture").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	if got := step(e.status("torture"), "parity").Outputs["records"]; got != float64(total) {
		t.Fatalf("parity compared %v records, want %d", got, total)
	}
	moved, err := kadm.NewClient(kclient(t, target)).FetchOffsets(ctx, "torture-reader")
	if err != nil {
		t.Fatal(err)
	}
	for topic, n := range counts {
		o, ok := moved.Lookup(topic, 0)
		if !ok {
			t.Errorf("torture-reader has no position on the target's %s", topic)
			continue
		}
		want, err := mirror.FirstRecord(ctx, []kgo.Opt{kgo.SeedBrokers(origin)}, mirror.Partition{Topic: topic}, int64(n/2))
		if err != nil {
			t.Fatal(err)
		}
		got, err := mirror.FirstRecord(ctx, []kgo.Opt{kgo.SeedBrokers(target)}, mirror.Partition{Topic: topic}, o.At)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil || got == nil || !bytes.Equal(want.Key, got.Key) || !bytes.Equal(want.Value, got.Value) || len(want.Headers) != len(got.Headers) {
			t.Errorf("%s: the reader resumes on the target at %d, which is not the record it would read next on the origin", topic, o.At)
		}
	}
}

// A target topic that keeps out records stamped long ago (message.timestamp.before.max.ms, an
// hour) refuses the old records: the run fails in seconds naming the topic, the record and the
// setting, rather than stalling.
func TestTargetRefusingOldRecordsIsNamed(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin")
	target := kafkatest.StartCluster(t, "target")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := torture.Write(ctx, kgo.SeedBrokers(origin.Addr), kgo.ProducerBatchMaxBytes(2<<20)); err != nil {
		t.Fatal(err)
	}
	hour := "3600000"
	if _, err := kadm.NewClient(target.Client(t)).CreateTopic(ctx, 1, -1, map[string]*string{"message.timestamp.before.max.ms": &hour}, torture.Old); err != nil {
		t.Fatal(err)
	}
	e := start(t, "", newSteps())
	src := fmt.Sprintf("clusters:\n  origin: %s\n  target: %s\n%s", bootstrapYAML(origin.Addr), bootstrapYAML(target.Addr), tortureSteps)
	began := time.Now()
	r := e.run("refused", workflows.Input{Plan: plan(t, src)})
	err := r.Get(ctx, nil)
	t.Logf("failed after %s: %v", time.Since(began).Round(time.Millisecond), err)
	for _, want := range []string{"the mirror stopped", "target topic torture.old/0 refused", "2001-09-09T01:46:40Z", `key "old-0"`, "INVALID_TIMESTAMP", "message.timestamp.before.max.ms"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("want an error saying %q, got %v", want, err)
		}
	}
}
