package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferryhq/ferry/internal/topicconf"
)

// ReplicasOrigin makes target topics take each origin topic's replication factor.
const ReplicasOrigin = "origin"

// TopicSpec is how the target creates a topic.
type TopicSpec struct {
	Partitions int32
	// Replicas is the replication factor; -1 the target brokers' default.
	Replicas int16
	// Configs are the origin topic's copyable settings set on it, and its effective
	// min.insync.replicas when above 1.
	Configs map[string]*string
}

// OriginTopics describes origin topics as the target should create them. replicas is
// ReplicasOrigin (each topic's own), a number, or "" (the target's default).
func OriginTopics(ctx context.Context, origin *kadm.Client, names []string, replicas string) (map[string]TopicSpec, error) {
	out := map[string]TopicSpec{}
	if len(names) == 0 {
		return out, nil
	}
	rf := int16(-1)
	if replicas != "" && replicas != ReplicasOrigin {
		n, err := strconv.ParseInt(replicas, 10, 16)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("replication factor %q: want origin or a number from 1", replicas)
		}
		rf = int16(n)
	}
	details, err := origin.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list origin topics: %w", err)
	}
	rcs, err := origin.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe origin topic configs: %w", err)
	}
	for _, rc := range rcs {
		d, ok := details[rc.Name]
		if !ok || d.Err != nil {
			continue
		}
		spec := TopicSpec{Partitions: int32(len(d.Partitions)), Replicas: rf, Configs: map[string]*string{}}
		if replicas == ReplicasOrigin {
			spec.Replicas = int16(d.Partitions.NumReplicas())
		}
		for _, c := range rc.Configs {
			if c.Value == nil || !topicconf.Copyable[c.Key] {
				continue
			}
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig || (c.Key == topicconf.MinISR && *c.Value != "1") {
				spec.Configs[c.Key] = c.Value
			}
		}
		out[rc.Name] = spec
	}
	return out, nil
}

// CheckReplicas refuses a topic whose target replication factor is below its
// min.insync.replicas: no write with acks=all could succeed there. defaultRF is the target
// brokers' default replication factor, for specs that use it (0: unknown, not checked).
func CheckReplicas(topic string, spec TopicSpec, defaultRF int16) error {
	v, ok := spec.Configs[topicconf.MinISR]
	if !ok {
		return nil
	}
	isr, err := strconv.Atoi(*v)
	if err != nil {
		return nil
	}
	rf := spec.Replicas
	if rf < 0 {
		rf = defaultRF
	}
	if rf > 0 && int(rf) < isr {
		return fmt.Errorf("topic %s: min.insync.replicas is %d on the origin and the target would keep %d replicas: no acks=all write could succeed (set replication.replicationFactor; Ferry never lowers min.insync.replicas)", topic, isr, rf)
	}
	return nil
}

// DefaultReplicas reads the target brokers' default.replication.factor (0 when unknown).
func DefaultReplicas(ctx context.Context, target *kadm.Client) int16 {
	md, err := target.BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) == 0 {
		return 0
	}
	rcs, err := target.DescribeBrokerConfigs(ctx, md.Brokers[0].NodeID)
	if err != nil {
		return 0
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "default.replication.factor" && c.Value != nil {
				if n, err := strconv.ParseInt(*c.Value, 10, 16); err == nil {
					return int16(n)
				}
			}
		}
	}
	return 0
}

// EnsureTopics makes every wanted topic exist on the target (under its renamed name) as its
// spec says, with at least its partition count. Existing topics keep their settings and only
// ever gain partitions.
func EnsureTopics(ctx context.Context, target *kadm.Client, want map[string]TopicSpec, rename func(string) string) error {
	if rename == nil {
		rename = func(t string) string { return t }
	}
	names := make([]string, 0, len(want))
	for t := range want {
		names = append(names, t)
	}
	sort.Strings(names)
	var targets []string
	for _, t := range names {
		targets = append(targets, rename(t))
	}
	have, err := target.ListTopics(ctx, targets...)
	if err != nil {
		return fmt.Errorf("list target topics: %w", err)
	}
	var defaultRF int16 = -1
	for _, t := range names {
		tt, spec := rename(t), want[t]
		cur, ok := have[tt]
		if !ok || errors.Is(cur.Err, kerr.UnknownTopicOrPartition) {
			if defaultRF == -1 {
				defaultRF = DefaultReplicas(ctx, target)
			}
			if err := CheckReplicas(tt, spec, defaultRF); err != nil {
				return err
			}
			rf := spec.Replicas
			if rf == 0 {
				rf = -1
			}
			_, err := target.CreateTopic(ctx, spec.Partitions, rf, spec.Configs, tt)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create target topic %s: %w", tt, err)
			}
			continue
		}
		if cur.Err != nil {
			return fmt.Errorf("target topic %s: %w", tt, cur.Err)
		}
		if n := int32(len(cur.Partitions)); n < spec.Partitions {
			if _, err := target.UpdatePartitions(ctx, int(spec.Partitions), tt); err != nil {
				return fmt.Errorf("add partitions to target topic %s (%d -> %d): %w", tt, n, spec.Partitions, err)
			}
		}
	}
	return nil
}
