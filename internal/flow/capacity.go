package flow

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ferryhq/ferry/internal/mirror"
)

// Capacity says whether the target can take the origin's replicated topics, as seed 004's
// prerequisites ask: brokers for their replication factor, and disk where the clusters report
// it (Kafka 3.3 and later).
type Capacity struct {
	Topics, Partitions int
	// Replicas is the largest replication factor the target topics get.
	Replicas      int16
	TargetBrokers int
	// OriginBytes is one replica of every replicated partition; -1 when the origin does not
	// say. TargetUsable is the free space of the target's log dirs; -1 when unreported.
	OriginBytes, TargetUsable int64
	Problems                  []string
}

func (c Capacity) String() string {
	out := fmt.Sprintf("%d topics, %d partitions, replication factor up to %d on %d target brokers", c.Topics, c.Partitions, c.Replicas, c.TargetBrokers)
	if c.OriginBytes >= 0 {
		out += fmt.Sprintf("; %s of data, %s with its replicas", bytesOf(c.OriginBytes), bytesOf(c.OriginBytes*int64(max(c.Replicas, 1))))
	}
	if c.TargetUsable >= 0 {
		out += fmt.Sprintf("; %s free on the target", bytesOf(c.TargetUsable))
	} else {
		out += "; the target does not report its free space"
	}
	return out
}

func bytesOf(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Capacity measures the replicated topics against the target.
func (f *Flow) Capacity(ctx context.Context) (*Capacity, error) {
	_, counts, err := f.Partitions(ctx, nil)
	if err != nil {
		return nil, err
	}
	names, _ := f.topicNames(counts)
	c := &Capacity{Topics: len(names), OriginBytes: -1, TargetUsable: -1}
	for _, n := range counts {
		c.Partitions += int(n)
	}
	specs, err := mirror.OriginTopics(ctx, f.Origin, names, f.Rep.ReplicationFactor)
	if err != nil {
		return nil, err
	}
	md, err := f.Target.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("target brokers: %w", err)
	}
	c.TargetBrokers = len(md.Brokers)
	// The brokers' default is theirs to keep possible (a stand-in may report more than it
	// has brokers for): only a replication factor the runbook asks for is held to them.
	defaultRF := min(mirror.DefaultReplicas(ctx, f.Target), int16(c.TargetBrokers))
	asked := int16(0)
	for _, t := range names {
		spec := specs[t]
		rf := spec.Replicas
		if rf < 0 {
			rf = defaultRF
		} else {
			asked = max(asked, rf)
		}
		c.Replicas = max(c.Replicas, rf)
		if err := mirror.CheckReplicas(f.Rep.TargetTopic(t), spec, defaultRF); err != nil {
			c.Problems = append(c.Problems, err.Error())
		}
	}
	if int(asked) > c.TargetBrokers {
		c.Problems = append(c.Problems, fmt.Sprintf("replication factor %d needs %d brokers; the target %s has %d", asked, asked, f.Rep.Target, c.TargetBrokers))
	}
	if len(names) > 0 {
		set := kadm.TopicsSet{}
		for _, t := range names {
			set.Add(t)
		}
		c.OriginBytes = originBytes(ctx, f.Origin, set)
	}
	c.TargetUsable = usableBytes(ctx, f.Target)
	if need := c.OriginBytes * int64(max(c.Replicas, 1)); c.OriginBytes >= 0 && c.TargetUsable >= 0 && need > c.TargetUsable {
		c.Problems = append(c.Problems, fmt.Sprintf("the copy needs %s with its replicas; the target %s has %s free", bytesOf(need), f.Rep.Target, bytesOf(c.TargetUsable)))
	}
	return c, nil
}

// originBytes sums the largest replica of every partition of topics; -1 when unknown.
func originBytes(ctx context.Context, adm *kadm.Client, topics kadm.TopicsSet) int64 {
	dirs, err := adm.DescribeAllLogDirs(ctx, topics)
	if err != nil {
		return -1
	}
	largest := map[mirror.Partition]int64{}
	ok := false
	dirs.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			return
		}
		ok = true
		for t, ps := range d.Topics {
			for p, part := range ps {
				tp := mirror.Partition{Topic: t, Partition: p}
				largest[tp] = max(largest[tp], part.Size)
			}
		}
	})
	if !ok {
		return -1
	}
	var n int64
	for _, s := range largest {
		n += s
	}
	return n
}

// usableBytes sums the free space of every log dir of a cluster; -1 when any is unreported.
func usableBytes(ctx context.Context, adm *kadm.Client) int64 {
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return -1
	}
	var n int64
	seen := false
	dirs.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil || d.UsableBytes < 0 || n < 0 {
			n = -1
			return
		}
		seen = true
		n += d.UsableBytes
	})
	if !seen {
		return -1
	}
	return n
}
