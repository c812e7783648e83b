package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/connect"
	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
	kafkatest "github.com/ferryhq/ferry/test/kafka"
	"github.com/ferryhq/ferry/workflows"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// TestMirrorMakerReadsFerrysOffsetSyncs copies with the builtin mirror, then runs MirrorMaker
// 2's own checkpoint connector over the offset syncs Ferry wrote, and checks its checkpoints
// follow MM2's translation rule on them: a committed offset with a sync of its own lands on
// that sync's target offset; any other lands one past the nearest earlier sync (MM2 cannot
// know what lies between syncs).
func TestMirrorMakerReadsFerrysOffsetSyncs(t *testing.T) {
	origin := kafkatest.StartCluster(t, "origin")
	target := kafkatest.StartCluster(t, "target")
	worker := kafkatest.StartConnect(t, target.Addr)
	seedOrigin(t, origin.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := start(t, "", newSteps())
	r := e.run("syncs", workflows.Input{Plan: plan(t, fmt.Sprintf(`
clusters:
  origin: {bootstrap: ["%s"]}
  target: {bootstrap: ["%s"]}
replication: {origin: origin, target: target, topics: {include: [orders]}, groups: {include: [billing]}}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 0, interval: 200ms}}
  - {id: stop, uses: mirror.stop}
`, origin.Addr, target.Addr))})
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Partition 0: 40 records, an aborted transaction (40..44) and its marker, so Ferry synced
	// 46 -> 40. Partitions 1 and 2 have one sync each, 0 -> 0.
	committed := map[int32]int64{0: 46, 1: 0, 2: 20}
	want := map[int32]int64{0: 40, 1: 0, 2: 1}
	offs := kadm.Offsets{}
	for p, at := range committed {
		offs.Add(kadm.Offset{Topic: "orders", Partition: p, At: at, LeaderEpoch: -1})
	}
	if resp, err := kadm.NewClient(origin.Client(t)).CommitOffsets(ctx, "billing", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	m, err := mirror.LoadMapping(ctx, []kgo.Opt{kgo.SeedBrokers(target.Addr)}, "mm2-offset-syncs.origin.internal")
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Syncs(mirror.Partition{Topic: "orders", Partition: 0}); len(s) != 2 || s[1].Upstream != 46 || s[1].Downstream != 40 {
		t.Fatalf("Ferry's syncs on orders/0: %#v", s)
	}

	rep := &runbook.Replication{Origin: "origin", Target: "target", Topics: runbook.Patterns{Include: []string{"orders"}},
		Groups: runbook.Patterns{Include: []string{"billing"}},
		MM2:    &runbook.MM2Settings{SyncInterval: runbook.Duration(time.Second), RefreshInterval: runbook.Duration(time.Second)}}
	cc := connect.New(worker.URL, "", "")
	for name, cfg := range connect.Connectors("interop", rep, map[string]string{"bootstrap.servers": origin.Addr}, map[string]string{"bootstrap.servers": target.Addr}, 0) {
		if strings.HasSuffix(name, ".MirrorCheckpointConnector") {
			if err := cc.Put(ctx, name, cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := mm2Checkpoints(ctx, target.Addr, "billing", committed)
	if err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("MirrorMaker 2 translated billing orders/%d at %d to %d, want %d", p, committed[p], got[p], w)
		}
	}
}

// mm2Checkpoints waits until the checkpoint topic holds a checkpoint of group for the
// committed offset of every partition, and returns their target offsets.
func mm2Checkpoints(ctx context.Context, bootstrap, group string, committed map[int32]int64) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(mm2topic.Checkpoints("origin")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	got := map[int32]int64{}
	for len(got) < len(committed) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("checkpoints for %d of %d partitions (%v): %w", len(got), len(committed), got, ctx.Err())
		}
		if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			time.Sleep(200 * time.Millisecond) // the connector has not created the topic yet
		}
		fs.EachRecord(func(r *kgo.Record) {
			if c, err := mirror.DecodeCheckpoint(r); err == nil && c.Group == group && c.Upstream == committed[c.Partition.Partition] {
				got[c.Partition.Partition] = c.Downstream
			}
		})
	}
	return got, nil
}
