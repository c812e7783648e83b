package mirror

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// TestGroupSyncKeepsAStandby follows origin groups on the target round by round: exact
// positions (a partition ending in transaction markers included), forward only, never ahead
// of the copied data, and never for a group someone consumes on the target.
func TestGroupSyncKeepsAStandby(t *testing.T) {
	ctx := context.Background()
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "orders", 2)
	produce(t, origin, "orders", 2, 40, 0)
	produceTxn(t, origin, "orders", 5, false, "aborted") // partition 0 ends in an aborted transaction and its marker
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("na"), Discover: 100 * time.Millisecond}
	mirrorUntil(t, cfg, 80)

	oadm := kadm.NewClient(client(t, origin))
	commit := func(group string, p0, p1 int64) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: p0, LeaderEpoch: -1})
		offs.Add(kadm.Offset{Topic: "orders", Partition: 1, At: p1, LeaderEpoch: -1})
		if resp, err := oadm.CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
			t.Fatalf("commit %s: %v %v", group, err, resp.Error())
		}
	}
	commit("billing", 46, 25) // partition 0 read to its end, past the marker at 45
	commit("shipping", 10, 10)
	// shipping already consumes on the target: a standby no more, left alone.
	member := client(t, target, kgo.ConsumerGroup("shipping"), kgo.ConsumeTopics("orders"))
	member.PollRecords(ctx, 1)

	gs := GroupSync{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("na"), CheckpointTopic: mm2topic.Checkpoints("na")}
	tadm := kadm.NewClient(client(t, target))
	position := func(group string) (int64, int64) {
		t.Helper()
		got, err := tadm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := got.Lookup("orders", 0)
		b, _ := got.Lookup("orders", 1)
		return a.At, b.At
	}
	round := func() GroupSyncResult {
		t.Helper()
		res, err := gs.Once(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	res := round()
	if p0, p1 := position("billing"); p0 != 40 || p1 != 25 {
		t.Fatalf("billing on the target at %d/%d, want 40 (end: the aborted records are not copied)/25", p0, p1)
	}
	if res.Groups != 1 || res.Moved != 2 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "shipping: 1 member(s) on the target") {
		t.Fatalf("first round: %+v", res)
	}
	if p0, _ := position("shipping"); p0 == 10 {
		t.Fatal("shipping was moved although it has a member on the target")
	}

	commit("billing", 46, 30)
	if res := round(); res.Moved != 1 {
		t.Fatalf("second round moved %d partitions, want 1", res.Moved)
	}
	commit("billing", 46, 5) // reset backwards on the origin: the target keeps 30
	round()
	if _, p1 := position("billing"); p1 != 30 {
		t.Fatalf("billing/1 moved back to %d", p1)
	}

	// Not copied yet: new records the mirror has not seen keep the last position.
	produce(t, origin, "orders", 2, 10, 100)
	commit("billing", 46, 50)
	if res := round(); res.Uncopied != 1 || res.Moved != 0 {
		t.Fatalf("round ahead of the copy: %+v", res)
	}
	if _, p1 := position("billing"); p1 != 30 {
		t.Fatalf("billing/1 at %d, ahead of the copied data", p1)
	}

	// Every move was written as a MirrorMaker 2 checkpoint; the newest per partition wins.
	cl := client(t, target, kgo.ConsumeTopics(mm2topic.Checkpoints("na")), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	last := map[int32]Checkpoint{}
	for n := 0; n < 3; {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			c, err := DecodeCheckpoint(r)
			if err != nil {
				t.Fatal(err)
			}
			last[c.Partition.Partition] = c
			n++
		})
	}
	if c := last[1]; c.Group != "billing" || c.Upstream != 30 || c.Downstream != 30 || last[0].Upstream != 46 || last[0].Downstream != 40 {
		t.Fatalf("checkpoints %+v", last)
	}
}
