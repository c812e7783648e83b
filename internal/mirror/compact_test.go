package mirror

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// TestMirrorCompactedTopicWithGaps mirrors a compacted topic whose offsets have holes where
// older values of a key were removed, and checks copy and translation stay exact.
func TestMirrorCompactedTopicWithGaps(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	origin := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	target := cluster(t)
	compact, forever := "compact", "-1"
	cfgs := map[string]*string{"cleanup.policy": &compact, "retention.ms": &forever}
	if _, err := kadm.NewClient(client(t, origin)).CreateTopic(context.Background(), 2, 1, cfgs, "customers"); err != nil {
		t.Fatal(err)
	}
	cl := client(t, origin, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for round := range 5 {
		var rs []*kgo.Record
		for p := range int32(2) {
			for k := range 20 {
				if k%3 == 0 && round > 1 {
					continue // some keys keep an old value
				}
				rs = append(rs, &kgo.Record{Topic: "customers", Partition: p, Key: fmt.Appendf(nil, "customer-%d", k),
					Value: fmt.Appendf(nil, "address v%d", round), Timestamp: time.UnixMilli(1_700_000_000_000 + int64(round*100+k))})
			}
		}
		if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before := endOffset(t, origin, Partition{"customers", 0})
	c.Compact()
	left0, left1 := readAll(t, origin, Partition{"customers", 0}), readAll(t, origin, Partition{"customers", 1})
	if int64(len(left0)) >= before || len(left0) == 0 {
		t.Fatalf("compaction left %d records of %d offsets", len(left0), before)
	}
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("target"), Discover: 100 * time.Millisecond}
	mirrorUntil(t, cfg, int64(len(left0)+len(left1)))
	for p := range int32(2) {
		checkExact(t, origin, target, Partition{"customers", p}, cfg.SyncTopic)
	}
}
