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

	kafkatest "github.com/ferryhq/ferry/test/kafka"
	"github.com/ferryhq/ferry/workflows"
)

// The 4 MB record of issue 17: legal on the origin (max.message.bytes 10 MB), refused by a
// target topic left at the broker default. The run fails in seconds on the wait step, naming
// the record, its size and the setting to change; it does not time out. Once the target topic
// takes it, the same runbook copies everything exactly.
func TestRefusedRecordFailsTheRunAtOnce(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	ctx := context.Background()
	big := "10000000"
	if _, err := kadm.NewClient(kclient(t, origin)).CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": &big}, "media"); err != nil {
		t.Fatal(err)
	}
	prod := kclient(t, origin, kgo.ProducerBatchMaxBytes(10_000_000), kgo.DefaultProduceTopic("media"))
	for i, v := range [][]byte{[]byte("small 0"), bytes.Repeat([]byte("x"), 4<<20), []byte("small 2")} {
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tadm := kadm.NewClient(kclient(t, target))
	if _, err := tadm.CreateTopic(ctx, 1, 1, nil, "media"); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
clusters:
  origin: %s
  target: %s
replication: {origin: origin, target: target, topics: {include: [media]}}
steps:
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0, interval: 200ms}, timeout: 10m}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
`, bootstrapYAML(origin), bootstrapYAML(target))
	e := start(t, "", newSteps())

	began := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := e.run("refused", workflows.Input{Plan: plan(t, src)}).Get(wctx, nil)
	took := time.Since(began)
	st := step(e.status("refused"), "caught_up")
	t.Logf("failed after %s: %v; caught_up: %s", took.Round(time.Millisecond), err, st.LastError)
	if err == nil || st.Status != workflows.StepFailed {
		t.Fatalf("want the run to fail on caught_up, got %v (step %s)", err, st.Status)
	}
	for _, want := range []string{"the mirror stopped", "4194305 bytes", "origin offset 1", "media/0", "max.message.bytes 1048588"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("caught_up's error does not say %q: %s", want, st.LastError)
		}
	}
	if took > 45*time.Second {
		t.Errorf("the run took %s to notice: it should fail in seconds", took)
	}

	// Raise the limit as the error says; the same runbook now copies every record exactly.
	if _, err := tadm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &big}}, "media"); err != nil {
		t.Fatal(err)
	}
	if err := e.run("raised", workflows.Input{Plan: plan(t, src)}).Get(wctx, nil); err != nil {
		t.Fatalf("after raising max.message.bytes: %v", err)
	}
	if p := step(e.status("raised"), "parity").Outputs; p["records"] != float64(3) {
		t.Fatalf("parity: %v", p)
	}
}

// The 4 MB record with MirrorMaker 2 on Kafka Connect: topics.sync gives the target topic the
// origin's max.message.bytes, and the connect engine sizes the source connector's producer for
// it (max.request.size is 1 MiB by default, MirrorMaker 2's usual trap). Parity is exact.
func TestLargeRecordWithConnect(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin")
	target := kafkatest.StartCluster(t, "target")
	worker := kafkatest.StartConnect(t, target.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	big := "10000000"
	if _, err := kadm.NewClient(origin.Client(t)).CreateTopic(ctx, 1, -1, map[string]*string{"max.message.bytes": &big}, "media"); err != nil {
		t.Fatal(err)
	}
	prod := origin.Client(t, kgo.ProducerBatchMaxBytes(10_000_000), kgo.DefaultProduceTopic("media"))
	for i, v := range [][]byte{[]byte("small 0"), bytes.Repeat([]byte("x"), 4<<20), []byte("small 2")} {
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	e := start(t, "", newSteps())
	r := e.run("large-connect", workflows.Input{Plan: plan(t, fmt.Sprintf(`
clusters:
  origin: {bootstrap: ["%s"]}
  target: {bootstrap: ["%s"]}
replication: {engine: connect, connect: {url: %q}, origin: origin, target: target, topics: {include: [media]}}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0, interval: 500ms}, timeout: 2m}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
`, origin.Addr, target.Addr, worker.URL))})
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("large-connect").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	if got := step(e.status("large-connect"), "parity").Outputs["records"]; got != float64(3) {
		t.Fatalf("parity compared %v records, want 3", got)
	}
}
