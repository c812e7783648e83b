package mirror

import "hash/fnv"

// ShardOf is the shard of shards that copies a partition. It depends on nothing but the
// partition, so every shard agrees without talking to the others, a partition keeps its shard
// across restarts, and partitions that appear later are placed the same way. A topic's
// partitions go to consecutive shards, so a topic with at least as many partitions as there
// are shards spreads over all of them.
func ShardOf(p Partition, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(p.Topic))
	return int((uint64(h.Sum32()) + uint64(p.Partition)) % uint64(shards))
}
