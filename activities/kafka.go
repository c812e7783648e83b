package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/kafka"
	"github.com/ferryhq/ferry/internal/mirror"
)

func init() {
	register(engine.StepKafkaCheck, kafkaCheck)
	register(engine.StepTopicsSync, topicsSync)
	register(engine.StepMirrorWait, mirrorWait)
	register(engine.StepGroupsTranslate, groupsTranslate)
	register(engine.StepVerifyParity, verifyParity)
	register(engine.StepTopicsCleanup, topicsCleanup)
}

// badInput fails a step at once: retrying cannot fix a wrong address, credential or parameter.
func badInput(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), "BadInput", nil)
}

func decode[T any](in engine.StepInput) (T, error) {
	var p T
	if err := engine.DecodeWith(in.With, &p); err != nil {
		return p, badInput("%s: parameters: %v", in.StepID, err)
	}
	return p, nil
}

// conn returns a cluster's connection options and an admin client that answered.
func conn(ctx context.Context, in engine.StepInput, name string) ([]kgo.Opt, *kadm.Client, func(), error) {
	c := in.Clusters[name]
	opts, err := kafka.Options(ctx, name, c, ResolveSecret)
	if err != nil {
		return nil, nil, nil, badInput("%v", err)
	}
	cl, err := kafka.Connect(ctx, name, c, ResolveSecret)
	if err != nil {
		return nil, nil, nil, err
	}
	return opts, kadm.NewClient(cl), cl.Close, nil
}

type flow struct {
	rep                    *engine.Replication
	originOpts, targetOpts []kgo.Opt
	origin, target         *kadm.Client
	close                  func()
}

// connectFlow connects to the replication's origin and target.
func connectFlow(ctx context.Context, in engine.StepInput) (*flow, error) {
	if in.Replication == nil {
		return nil, badInput("%s: the runbook has no replication: section", in.StepID)
	}
	f := &flow{rep: in.Replication}
	var closeO, closeT func()
	var err error
	if f.originOpts, f.origin, closeO, err = conn(ctx, in, f.rep.Origin); err != nil {
		return nil, err
	}
	if f.targetOpts, f.target, closeT, err = conn(ctx, in, f.rep.Target); err != nil {
		closeO()
		return nil, err
	}
	f.close = func() { closeO(); closeT() }
	return f, nil
}

// flowStep decodes a step's parameters and connects to its replication's clusters.
func flowStep[T any](ctx context.Context, in engine.StepInput) (T, *flow, error) {
	p, err := decode[T](in)
	if err != nil {
		return p, nil, err
	}
	f, err := connectFlow(ctx, in)
	return p, f, err
}

// partitions lists the selected origin topics' partitions.
func (f *flow) partitions(ctx context.Context, sel *engine.Patterns) ([]mirror.Partition, map[string]int32, error) {
	if sel == nil {
		sel = &f.rep.Topics
	}
	topics, err := f.origin.ListTopics(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list origin topics: %w", err)
	}
	var out []mirror.Partition
	counts := map[string]int32{}
	for _, t := range topics.Sorted() {
		if t.IsInternal || !sel.Select(t.Topic) {
			continue
		}
		counts[t.Topic] = int32(len(t.Partitions))
		for p := range int32(len(t.Partitions)) {
			out = append(out, mirror.Partition{Topic: t.Topic, Partition: p})
		}
	}
	return out, counts, nil
}

func kafkaCheck(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.KafkaCheckParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	names := p.Clusters
	if len(names) == 0 && in.Replication != nil {
		names = []string{in.Replication.Origin, in.Replication.Target}
	}
	if len(names) == 0 {
		for n := range in.Clusters {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	brokers := map[string]any{}
	var problems []string
	for _, name := range names {
		_, adm, closeFn, err := conn(ctx, in, name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			problems = append(problems, fmt.Sprintf("cluster %s: describe cluster: %v", name, err))
			closeFn()
			continue
		}
		brokers[name] = len(md.Brokers)
		if _, err := adm.ListTopics(ctx); err != nil {
			problems = append(problems, fmt.Sprintf("cluster %s: describe topics: %v", name, err))
		}
		if _, err := adm.ListGroups(ctx); err != nil {
			problems = append(problems, fmt.Sprintf("cluster %s: list groups: %v", name, err))
		}
		if in.Replication != nil && name == in.Replication.Target {
			// Creating topics and committing offsets are what the target must allow.
			resp, err := adm.ValidateCreateTopics(ctx, 1, -1, nil, "ferry-permission-check")
			if err == nil {
				err = resp.Error()
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				problems = append(problems, fmt.Sprintf("cluster %s: create topics not allowed: %v", name, err))
			}
		}
		closeFn()
	}
	if len(problems) > 0 {
		return engine.StepResult{}, badInput("%s", strings.Join(problems, "; "))
	}
	return engine.StepResult{Outputs: map[string]any{"brokers": brokers}}, nil
}

// copyableConfigs are topic settings that carry over; broker-specific ones (replica
// placement, message format, leader replication throttles) do not.
var copyableConfigs = map[string]bool{
	"cleanup.policy": true, "retention.ms": true, "retention.bytes": true, "max.message.bytes": true,
	"min.compaction.lag.ms": true, "max.compaction.lag.ms": true, "delete.retention.ms": true,
	"segment.ms": true, "segment.bytes": true, "compression.type": true, "message.timestamp.type": true,
	"min.cleanable.dirty.ratio": true, "min.insync.replicas": true, "local.retention.ms": false,
}

func topicsSync(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, f, err := flowStep[engine.TopicsSyncParams](ctx, in)
	if err != nil {
		return engine.StepResult{}, err
	}
	defer f.close()
	_, counts, err := f.partitions(ctx, p.Topics)
	if err != nil {
		return engine.StepResult{}, err
	}
	var names []string
	for t := range counts {
		names = append(names, t)
	}
	sort.Strings(names)
	configs := map[string]map[string]*string{}
	if len(names) > 0 {
		rcs, err := f.origin.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			return engine.StepResult{}, fmt.Errorf("describe origin topic configs: %w", err)
		}
		for _, rc := range rcs {
			m := map[string]*string{}
			for _, c := range rc.Configs {
				if copyableConfigs[c.Key] && c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
					m[c.Key] = c.Value
				}
			}
			configs[rc.Name] = m
		}
	}
	targetNames := make([]string, len(names))
	for i, t := range names {
		targetNames[i] = f.rep.TargetTopic(t)
	}
	have, err := f.target.ListTopics(ctx, targetNames...)
	if err != nil {
		return engine.StepResult{}, fmt.Errorf("list target topics: %w", err)
	}
	created, grown, diff := []any{}, []any{}, []any{}
	rf := int16(p.ReplicationFactor)
	if rf == 0 {
		rf = -1
	}
	for _, t := range names {
		tt := f.rep.TargetTopic(t)
		cur, exists := have[tt]
		if !exists || cur.Err != nil {
			created = append(created, tt)
			diff = append(diff, fmt.Sprintf("+ %s: %d partitions%s", tt, counts[t], describeConfigs(configs[t])))
			if p.DryRun {
				continue
			}
			if _, err := f.target.CreateTopic(ctx, counts[t], rf, configs[t], tt); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return engine.StepResult{}, fmt.Errorf("create %s on %s: %w", tt, f.rep.Target, err)
			}
			continue
		}
		if drift := configDrift(ctx, f.target, tt, configs[t]); drift != "" {
			diff = append(diff, "~ "+tt+": "+drift+" (left as is: the target topic exists)")
		}
		if n := int32(len(cur.Partitions)); n < counts[t] {
			grown = append(grown, fmt.Sprintf("%s %d->%d", tt, n, counts[t]))
			diff = append(diff, fmt.Sprintf("~ %s: partitions %d -> %d", tt, n, counts[t]))
			if p.DryRun {
				continue
			}
			if _, err := f.target.UpdatePartitions(ctx, int(counts[t]), tt); err != nil {
				return engine.StepResult{}, fmt.Errorf("add partitions to %s on %s: %w", tt, f.rep.Target, err)
			}
		}
	}
	activity.GetLogger(ctx).Info("topics.sync", "diff", diff, "dryRun", p.DryRun)
	return engine.StepResult{Outputs: map[string]any{"created": created, "grown": grown, "diff": diff}}, nil
}

func describeConfigs(m map[string]*string) string {
	if len(m) == 0 {
		return ""
	}
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + *m[k]
	}
	return ", " + strings.Join(parts, ", ")
}

// configDrift says which copyable origin configs an existing target topic has otherwise.
func configDrift(ctx context.Context, target *kadm.Client, topic string, want map[string]*string) string {
	if len(want) == 0 {
		return ""
	}
	rcs, err := target.DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) == 0 {
		return ""
	}
	have := map[string]string{}
	for _, c := range rcs[0].Configs {
		if c.Value != nil {
			have[c.Key] = *c.Value
		}
	}
	var out []string
	for _, k := range sortedKeys(want) {
		if have[k] != *want[k] {
			out = append(out, fmt.Sprintf("%s target %q, origin %q", k, have[k], *want[k]))
		}
	}
	return strings.Join(out, "; ")
}

func sortedKeys(m map[string]*string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lag measures, per origin partition, the committed data records the mirror has not copied.
// Trailing transaction markers do not count (the "lag stuck at 1" trap).
func (f *flow) lag(ctx context.Context) (int64, map[string]int64, error) {
	parts, counts, err := f.partitions(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	if len(parts) == 0 {
		return 0, nil, nil
	}
	var topics, targets []string
	for t := range counts {
		topics = append(topics, t)
		targets = append(targets, f.rep.TargetTopic(t))
	}
	lso, err := f.origin.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return 0, nil, fmt.Errorf("origin end offsets: %w", err)
	}
	starts, err := f.origin.ListStartOffsets(ctx, topics...)
	if err != nil {
		return 0, nil, fmt.Errorf("origin start offsets: %w", err)
	}
	ends, err := f.target.ListEndOffsets(ctx, targets...)
	if err != nil {
		return 0, nil, fmt.Errorf("target end offsets: %w", err)
	}
	m, err := mirror.LoadMapping(ctx, f.targetOpts, f.rep.SyncTopic())
	if err != nil {
		return 0, nil, err
	}
	var total int64
	per := map[string]int64{}
	for _, p := range parts {
		o, _ := lso.Lookup(p.Topic, p.Partition)
		pos := int64(-1)
		if e, ok := ends.Lookup(f.rep.TargetTopic(p.Topic), p.Partition); ok && e.Err == nil {
			if r, ok := m.Resume(p, e.Offset); ok {
				pos = r
			}
		}
		if pos < 0 {
			s, _ := starts.Lookup(p.Topic, p.Partition)
			pos = s.Offset
		}
		l := max(o.Offset-pos, 0)
		if l > 0 && l <= 1000 {
			has, err := mirror.HasData(ctx, f.originOpts, p, pos, o.Offset)
			if err != nil {
				return 0, nil, err
			}
			if !has {
				l = 0
			}
		}
		per[p.String()] = l
		total += l
	}
	return total, per, nil
}

func mirrorWait(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.MirrorWaitParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	interval := p.Interval.D()
	if interval <= 0 {
		interval = time.Second
	}
	f, err := connectFlow(ctx, in)
	if err != nil {
		return engine.StepResult{}, err
	}
	defer f.close()
	for {
		total, _, err := f.lag(ctx)
		if err != nil {
			return engine.StepResult{}, err
		}
		activity.RecordHeartbeat(ctx, map[string]any{"lag": total, "maxLag": p.MaxLag})
		if total <= int64(p.MaxLag) {
			return engine.StepResult{Outputs: map[string]any{"lag": total}}, nil
		}
		select {
		case <-ctx.Done():
			return engine.StepResult{}, ctx.Err()
		case <-time.After(interval):
		}
	}
}
