package flow

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferryhq/ferry/runbook"
)

// A broker that cannot list a partition's offsets must not make its log read as empty:
// the mirror's lag, a group's lag and parity are errors (retried) while it cannot, never 0.
func TestAnUnlistedOffsetIsAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, cl := ordersCluster(t, 2)
	var failing atomic.Bool
	c.ControlKey(kmsg.ListOffsets.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.ListOffsetsRequest)
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownServerError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	origin := c.ListenAddrs()[0]
	target, tadm := kfakeCluster(t)
	if _, err := tadm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 2), Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	oadm := admin(t, origin)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 1, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 1, LeaderEpoch: -1})
	if _, err := oadm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	f := &Flow{Rep: &runbook.Replication{Origin: "na", Target: "eu", Topics: runbook.Patterns{Include: []string{"orders"}}},
		OriginOpts: []kgo.Opt{kgo.SeedBrokers(origin)}, TargetOpts: []kgo.Opt{kgo.SeedBrokers(target)}, Origin: oadm, Target: tadm, Exact: true}

	lag, _, err := f.Lag(ctx)
	if err != nil || lag != 6 {
		t.Fatalf("lag with nothing copied: %d %v", lag, err)
	}
	if behind, err := GroupsLag(ctx, oadm, f.OriginOpts, []string{"billing"}); err != nil || behind["billing"] != 4 {
		t.Fatalf("group lag: %v %v", behind, err)
	}
	failing.Store(true)
	if lag, _, err := f.Lag(ctx); !errors.Is(err, kerr.UnknownServerError) {
		t.Fatalf("lag while the origin cannot list offsets: %d %v", lag, err)
	}
	if behind, err := GroupsLag(ctx, oadm, f.OriginOpts, []string{"billing"}); !errors.Is(err, kerr.UnknownServerError) {
		t.Fatalf("group lag while the origin cannot list offsets: %v %v", behind, err)
	}
	if _, err := f.VerifyParity(ctx, nil); !errors.Is(err, kerr.UnknownServerError) {
		t.Fatalf("parity while the origin cannot list offsets: %v", err)
	}
}
