// Package sandbox runs local Kafka clusters (franz-go's kfake: the real wire protocol on
// loopback) for runbooks, the demo and tests, and seeds them with a fictional clothing
// retailer's order events.
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is one running sandbox cluster.
type Cluster struct {
	Name string
	Addr string
	c    *kfake.Cluster
}

// Start runs a cluster on a free loopback port. With dataDir, its data survives restarts.
// extra are further kfake options (tests put a fault switch on its listener).
func Start(name, dataDir string, extra ...kfake.Opt) (*Cluster, error) {
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.ClusterID("ferry-sandbox-" + name)}, extra...)
	if dataDir != "" {
		dir := filepath.Join(dataDir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("sandbox cluster %s: %w", name, err)
	}
	return &Cluster{Name: name, Addr: c.ListenAddrs()[0], c: c}, nil
}

// Close stops the cluster.
func (c *Cluster) Close() { c.c.Close() }

// HoldFetches makes the cluster answer no fetch until release is called (or it closes), while
// it still takes writes: everything reading it, mirrors and consumers, falls behind, as when
// replication stalls just before a region is lost. A DR drill's worst case, on demand.
func (c *Cluster) HoldFetches() (release func()) {
	released := make(chan struct{})
	c.c.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-released:
			c.c.DropControl()
			return nil, nil, false
		default:
		}
		c.c.KeepControl()
		c.c.SleepControl(func() { <-released })
		return nil, nil, false
	})
	var once sync.Once
	return func() { once.Do(func() { close(released) }) }
}

// Register writes addresses (cluster name, or "_control" for the apps' endpoint) to the
// registry file runbooks resolve `sandbox: NAME` from.
func Register(path string, addrs map[string]string) error {
	reg := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &reg)
	}
	for name, addr := range addrs {
		reg[name] = addr
	}
	b, _ := json.MarshalIndent(reg, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Unregister removes names from the registry file.
func Unregister(path string, names ...string) {
	reg := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &reg)
	}
	for _, n := range names {
		delete(reg, n)
	}
	b, _ := json.MarshalIndent(reg, "", "  ")
	_ = os.WriteFile(path, b, 0o600)
}

// Order is one event of the Loosehanger Jeans shop.
type Order struct {
	ID       int    `json:"id"`
	Customer string `json:"customer"`
	Item     string `json:"item"`
	Size     int    `json:"size"`
	Price    int    `json:"priceCents"`
	Region   string `json:"region"`
}

var items = []string{"slim jeans", "bootcut jeans", "denim jacket", "cargo shorts", "chino", "overalls"}

// SeedOrders creates topic orders with the given partitions and writes n order events keyed
// by customer, then one aborted and one committed transaction, so offsets have the gaps real
// transactional producers leave. It returns the number of committed records written.
func SeedOrders(ctx context.Context, addr string, partitions int32, n int) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, "orders"); err != nil {
		return 0, fmt.Errorf("create orders: %w", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var rs []*kgo.Record
	for i := range n {
		o := Order{ID: i, Customer: fmt.Sprintf("customer-%03d", rng.IntN(200)), Item: items[rng.IntN(len(items))],
			Size: 26 + rng.IntN(14), Price: 2999 + rng.IntN(9000), Region: []string{"north-america", "south-america", "europe"}[rng.IntN(3)]}
		v, _ := json.Marshal(o)
		rs = append(rs, &kgo.Record{Topic: "orders", Key: []byte(o.Customer), Value: v,
			Headers:   []kgo.RecordHeader{{Key: "source", Value: []byte("loosehanger-web")}},
			Timestamp: time.UnixMilli(1_760_000_000_000 + int64(i)*1000)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return 0, err
	}
	written := n
	for _, commit := range []bool{false, true} {
		txn, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(fmt.Sprintf("loosehanger-returns-%v", commit)))
		if err != nil {
			return 0, err
		}
		if err := txn.BeginTransaction(); err != nil {
			txn.Close()
			return 0, err
		}
		for i := range 10 {
			txn.Produce(ctx, &kgo.Record{Topic: "orders", Key: []byte("returns"), Value: fmt.Appendf(nil, `{"return":%d,"committed":%v}`, i, commit)}, nil)
		}
		if err := txn.Flush(ctx); err != nil {
			txn.Close()
			return 0, err
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			txn.Close()
			return 0, err
		}
		txn.Close()
		if commit {
			written += 10
		}
	}
	return written, nil
}

// CommitGroup commits a consumer group's position at fraction (0..1) of each partition of a
// topic, as if a consumer had read that far.
func CommitGroup(ctx context.Context, addr, group, topic string, fraction float64) (kadm.Offsets, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	offs := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: int64(float64(o.Offset) * fraction), LeaderEpoch: -1})
	})
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	return offs, err
}
