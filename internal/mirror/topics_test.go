package mirror

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A topic created on the origin after the mirror started arrives on the target as
// topics.sync would make it: its settings, its replication factor (replicas: origin), and the
// origin's effective min.insync.replicas even where that is only the origin brokers' default.
// A replication factor below min.insync.replicas is refused, never made quietly.
func TestTopicsThatAppearLaterMatchTheOrigin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster := func(opts ...kfake.Opt) (string, *kadm.Client) {
		c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return c.ListenAddrs()[0], kadm.NewClient(cl)
	}
	origin, oadm := cluster(kfake.BrokerConfigs(map[string]string{"min.insync.replicas": "2"}))
	target, tadm := cluster()
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(mctx, Config{Origin: []kgo.Opt{kgo.SeedBrokers(origin)}, Target: []kgo.Opt{kgo.SeedBrokers(target)},
			SyncTopic: "mm2-offset-syncs.o.internal", Replicas: ReplicasOrigin, Discover: 100 * time.Millisecond,
			Select: func(t string) bool { return strings.HasPrefix(t, "orders") }})
	}()
	time.Sleep(300 * time.Millisecond) // the mirror runs, with nothing to copy yet
	compact, retention := "compact", "1234567"
	if _, err := oadm.CreateTopic(ctx, 2, 3, map[string]*string{"cleanup.policy": &compact, "retention.ms": &retention}, "orders-late"); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	for ctx.Err() == nil {
		rcs, err := tadm.DescribeTopicConfigs(ctx, "orders-late")
		if err == nil && len(rcs) == 1 && rcs[0].Err == nil {
			got = map[string]string{}
			for _, c := range rcs[0].Configs {
				if c.Value != nil {
					got[c.Key] = *c.Value
				}
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got["cleanup.policy"] != "compact" || got["retention.ms"] != retention || got["min.insync.replicas"] != "2" {
		t.Fatalf("orders-late on the target: %v", got)
	}
	td, err := tadm.ListTopics(ctx, "orders-late")
	if err != nil || td["orders-late"].Partitions.NumReplicas() != 3 || len(td["orders-late"].Partitions) != 2 {
		t.Fatalf("orders-late on the target: %+v %v", td["orders-late"], err)
	}

	specs, err := OriginTopics(ctx, oadm, []string{"orders-late"}, "1")
	if err != nil {
		t.Fatal(err)
	}
	err = EnsureTopics(ctx, tadm, specs, func(t string) string { return t + "-one" })
	if err == nil || !strings.Contains(err.Error(), "min.insync.replicas is 2 on the origin and the target would keep 1 replicas") {
		t.Fatalf("replication factor 1 under min.insync.replicas 2: %v", err)
	}
}

// A config sync round corrects drift of the allowlisted settings, leaves a lower
// min.insync.replicas reported but unset, and a second round finds nothing to do.
func TestConfigSyncCorrectsDrift(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	origin, target := cluster(t), cluster(t)
	oadm, tadm := kadm.NewClient(client(t, origin)), kadm.NewClient(client(t, target))
	str := func(s string) *string { return &s }
	if _, err := oadm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": str("1000"), "min.insync.replicas": str("1")}, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := tadm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": str("5000"), "min.insync.replicas": str("2")}, "orders"); err != nil {
		t.Fatal(err)
	}
	cs := ConfigSync{Origin: origin, Target: target, Topics: func(t string) bool { return t == "orders" },
		Keys: []string{"retention.ms", "min.insync.replicas", "cleanup.policy"}}
	res, err := cs.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Corrected) != "[orders retention.ms: 5000 -> 1000]" || len(res.Left) != 1 || !strings.Contains(res.Left[0], "min.insync.replicas: 2 -> 1 (not lowered") {
		t.Fatalf("first round: %+v", res)
	}
	if res, err = cs.Once(ctx); err != nil || len(res.Corrected) != 0 || res.Topics != 1 {
		t.Fatalf("second round: %+v %v", res, err)
	}
}
