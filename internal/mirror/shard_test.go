package mirror

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// Three shards copy one flow at once, each only its partitions, including a topic created
// while they run; together they copy every partition exactly, and translation is exact at
// every offset, as one copy would.
func TestShardsCopyTheirPartitionsExactly(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "orders", 7)
	produce(t, origin, "orders", 7, 40, 0)
	produceTxn(t, origin, "orders", 5, false, "x")
	produce(t, origin, "orders", 7, 10, 40)
	const shards = 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	copied := map[int]int64{}
	owned := map[Partition]int{}
	var wg sync.WaitGroup
	errs := make(chan error, shards)
	for shard := range shards {
		cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("target"), Discover: 100 * time.Millisecond,
			ProgressInterval: 50 * time.Millisecond,
			Owns:             func(p Partition) bool { return ShardOf(p, shards) == shard },
			Progress: func(p Progress) {
				mu.Lock()
				defer mu.Unlock()
				copied[shard] = p.Records
				for _, e := range p.Each {
					owned[e.Partition] = shard
				}
			}}
		wg.Add(1)
		go func() { defer wg.Done(); errs <- Run(ctx, cfg) }()
	}
	time.Sleep(300 * time.Millisecond)
	createTopic(t, origin, "payments", 5) // appears while the shards run
	produce(t, origin, "payments", 5, 20, 0)
	want := int64(7*50 + 5*20)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		var total int64
		for _, n := range copied {
			total += n
		}
		mu.Unlock()
		if total == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shards copied %d of %d records: %v", total, want, copied)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(owned) != 12 {
		t.Fatalf("%d partitions copied, want 12: %v", len(owned), owned)
	}
	used := map[int]bool{}
	for p, shard := range owned {
		if ShardOf(p, shards) != shard {
			t.Errorf("%s copied by shard %d, not its own %d", p, shard, ShardOf(p, shards))
		}
		used[shard] = true
	}
	if len(used) != shards {
		t.Errorf("only shards %v copied", used)
	}
	for p := range owned {
		checkExact(t, origin, target, p, mm2topic.OffsetSyncs("target"))
	}
}
