package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/runbook"
)

// groups.reset as kafka-consumer-groups --reset-offsets: earliest, latest, a time and
// explicit offsets; a dry run writes nothing; a new group gets positions; an active group,
// an offset outside the log and a partial offsets list are refused before anything changes.
func TestResetGroups(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, cl := ordersCluster(t, 2)
	adm := kadm.NewClient(cl)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 10 {
		ts := t0
		if i >= 5 {
			ts = t0.Add(30 * time.Minute)
		}
		for p := range int32(2) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: p, Value: []byte{byte(i)}, Timestamp: ts}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 3, LeaderEpoch: -1})
	o.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 3, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "billing", o); err != nil {
		t.Fatal(err)
	}
	positions := func(g string) string {
		got, _ := adm.FetchOffsets(ctx, g)
		a, _ := got.Lookup("orders", 0)
		b, _ := got.Lookup("orders", 1)
		return fmt.Sprintf("%d %d", a.At, b.At)
	}
	reset := func(g string, topics []string, to ResetTo, dry bool) string {
		t.Helper()
		moved, err := ResetGroups(ctx, adm, "cluster eu", []string{g}, topics, to, dry)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(moved)
	}
	if got := reset("billing", nil, ResetTo{To: ResetEarliest}, true); got != "[billing orders/0: 3 -> 0 billing orders/1: 3 -> 0]" || positions("billing") != "3 3" {
		t.Fatalf("dry run: %s, positions now %s", got, positions("billing"))
	}
	for _, c := range []struct {
		to   ResetTo
		want string
	}{
		{ResetTo{To: ResetLatest}, "10 10"},
		{ResetTo{At: t0.Add(10 * time.Minute)}, "5 5"},
		{ResetTo{At: time.Now()}, "10 10"},
		{ResetTo{To: ResetEarliest}, "0 0"},
		{ResetTo{Offsets: map[string]int64{"orders/0": 7, "orders/1": 2}}, "7 2"},
	} {
		reset("billing", nil, c.to, false)
		if got := positions("billing"); got != c.want {
			t.Errorf("reset to %+v: positions %s, want %s", c.to, got, c.want)
		}
	}
	if got := reset("fresh", []string{"orders"}, ResetTo{To: ResetLatest}, false); got != "[fresh orders/0: none -> 10 fresh orders/1: none -> 10]" {
		t.Fatalf("a new group: %s", got)
	}
	var ae *ActionError
	for what, to := range map[string]ResetTo{
		"outside its log": {Offsets: map[string]int64{"orders/0": 11, "orders/1": 0}},
		"names no offset": {Offsets: map[string]int64{"orders/0": 1}},
	} {
		if _, err := ResetGroups(ctx, adm, "cluster eu", []string{"billing"}, nil, to, false); !errors.As(err, &ae) || !strings.Contains(err.Error(), what) {
			t.Errorf("%v: %v", to, err)
		}
	}
	if positions("billing") != "7 2" {
		t.Fatalf("a refused reset changed billing: %s", positions("billing"))
	}
	member, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.ClientID("billing-app"))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for ctx.Err() == nil {
		if d, err := adm.DescribeGroups(ctx, "billing"); err == nil && len(d["billing"].Members) > 0 {
			break
		}
		member.PollRecords(ctx, 1)
	}
	if _, err := ResetGroups(ctx, adm, "cluster eu", []string{"billing"}, nil, ResetTo{To: ResetEarliest}, false); !errors.As(err, &ae) || !strings.Contains(err.Error(), "client billing-app") {
		t.Fatalf("an active group: %v", err)
	}
}

// kafka.check's capacity: a replication factor the target's brokers cannot hold, or one under
// min.insync.replicas, is named before anything is created.
func TestCapacity(t *testing.T) {
	ctx := context.Background()
	_, oadm := kfakeCluster(t, kfake.NumBrokers(3))
	_, tadm := kfakeCluster(t)
	isr := "2"
	if _, err := oadm.CreateTopic(ctx, 4, 3, map[string]*string{"min.insync.replicas": &isr}, "orders"); err != nil {
		t.Fatal(err)
	}
	for rf, want := range map[string]string{
		"origin": "replication factor 3 needs 3 brokers; the target eu has 1",
		"1":      "min.insync.replicas is 2 on the origin and the target would keep 1 replicas",
	} {
		f := &Flow{Rep: &runbook.Replication{Origin: "na", Target: "eu", ReplicationFactor: rf}, Origin: oadm, Target: tadm}
		c, err := f.Capacity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Topics != 1 || c.Partitions != 4 || !strings.Contains(strings.Join(c.Problems, "; "), want) {
			t.Errorf("replicationFactor %s: %s, problems %v", rf, c, c.Problems)
		}
		t.Logf("%s: %s", rf, c)
	}
}
