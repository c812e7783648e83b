package flow

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/internal/mm2topic"
	"github.com/ferryhq/ferry/runbook"
)

// TopicsDiff is what SyncTopics created, grew, and found different.
type TopicsDiff struct {
	Created, Grown []string
	// Diff has a line per difference: + created, ~ changed or drifting.
	Diff []string
}

// SyncTopics creates the selected topics (the replication's when sel is nil) on the target
// with the origin's partitions and copyable configs, and adds partitions where the target has
// fewer. Existing topics keep their configs; drift is reported. dryRun changes nothing.
func (f *Flow) SyncTopics(ctx context.Context, sel *runbook.Patterns, replicationFactor int, dryRun bool) (*TopicsDiff, error) {
	_, counts, err := f.Partitions(ctx, sel)
	if err != nil {
		return nil, err
	}
	names, targetNames := f.topicNames(counts)
	replicas := f.Rep.ReplicationFactor
	if replicationFactor > 0 {
		replicas = strconv.Itoa(replicationFactor)
	}
	specs, err := mirror.OriginTopics(ctx, f.Origin, names, replicas)
	if err != nil {
		return nil, err
	}
	have, err := f.Target.ListTopics(ctx, targetNames...)
	if err != nil {
		return nil, fmt.Errorf("list target topics: %w", err)
	}
	d := &TopicsDiff{Created: []string{}, Grown: []string{}, Diff: []string{}}
	defaultRF := int16(-1)
	for _, t := range names {
		tt, spec := f.Rep.TargetTopic(t), specs[t]
		cur, exists := have[tt]
		if !exists || cur.Err != nil {
			if defaultRF == -1 {
				defaultRF = mirror.DefaultReplicas(ctx, f.Target)
			}
			if err := mirror.CheckReplicas(tt, spec, defaultRF); err != nil {
				return nil, refuse("%v", err)
			}
			d.Created = append(d.Created, tt)
			d.Diff = append(d.Diff, fmt.Sprintf("+ %s: %d partitions%s%s", tt, spec.Partitions, describeReplicas(spec.Replicas), describeConfigs(spec.Configs)))
			if dryRun {
				continue
			}
			if _, err := f.Target.CreateTopic(ctx, spec.Partitions, spec.Replicas, spec.Configs, tt); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return nil, fmt.Errorf("create %s on %s: %w", tt, f.Rep.Target, err)
			}
			continue
		}
		if drift := configDrift(ctx, f.Target, tt, spec.Configs); drift != "" {
			d.Diff = append(d.Diff, "~ "+tt+": "+drift+" (left as is: the target topic exists)")
		}
		if n := int32(len(cur.Partitions)); n < spec.Partitions {
			d.Grown = append(d.Grown, fmt.Sprintf("%s %d->%d", tt, n, spec.Partitions))
			d.Diff = append(d.Diff, fmt.Sprintf("~ %s: partitions %d -> %d", tt, n, spec.Partitions))
			if dryRun {
				continue
			}
			if _, err := f.Target.UpdatePartitions(ctx, int(spec.Partitions), tt); err != nil {
				return nil, fmt.Errorf("add partitions to %s on %s: %w", tt, f.Rep.Target, err)
			}
		}
	}
	return d, nil
}

func describeReplicas(rf int16) string {
	if rf < 1 {
		return ""
	}
	return fmt.Sprintf(", %d replicas", rf)
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

// CleanUp deletes the replication's bookkeeping topics on both clusters (offset syncs,
// checkpoints, heartbeats, MirrorMaker 2's Connect topics) and the listed origin topics,
// never another user topic. It returns "cluster:topic" for each; dryRun deletes nothing.
func (f *Flow) CleanUp(ctx context.Context, connectGroup string, originTopics []string, dryRun bool) ([]string, error) {
	deleted := []string{}
	for _, side := range []struct {
		name string
		adm  *kadm.Client
	}{{f.Rep.Origin, f.Origin}, {f.Rep.Target, f.Target}} {
		topics, err := side.adm.ListTopics(ctx)
		if err != nil {
			return nil, fmt.Errorf("list topics on %s: %w", side.name, err)
		}
		var doomed []string
		for _, t := range topics.Names() {
			if mm2topic.Bookkeeping(t, f.Rep.OriginAlias(), connectGroup) {
				doomed = append(doomed, t)
			}
		}
		for _, t := range originTopics {
			if topics.Has(t) && side.name == f.Rep.Origin {
				doomed = append(doomed, t)
			}
		}
		sort.Strings(doomed)
		for _, t := range doomed {
			deleted = append(deleted, side.name+":"+t)
		}
		if dryRun || len(doomed) == 0 {
			continue
		}
		resp, err := side.adm.DeleteTopics(ctx, doomed...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("delete %v on %s: %w", doomed, side.name, err)
		}
	}
	return deleted, nil
}
