package mirror

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/topicconf"
)

// ConfigSync keeps allowlisted topic settings of the target in step with the origin while a
// mirror runs: each round it compares the effective value of each key on every selected topic
// and sets the origin's on the target where they differ. It never lowers
// min.insync.replicas: that drift is reported and left.
type ConfigSync struct {
	Origin, Target []kgo.Opt
	// Topics selects origin topics; Rename names one on the target.
	Topics func(string) bool
	Rename func(string) string
	// Keys are the settings kept in step (each one of topicconf.Copyable).
	Keys []string
}

// ConfigSyncResult is what one round found.
type ConfigSyncResult struct {
	Topics    int      // topics compared
	Corrected []string // "topic key: target -> origin" for each setting set
	Left      []string // drift reported, not corrected (a lower min.insync.replicas)
}

// Once runs one round.
func (c ConfigSync) Once(ctx context.Context) (ConfigSyncResult, error) {
	var res ConfigSyncResult
	rename := c.Rename
	if rename == nil {
		rename = func(t string) string { return t }
	}
	origin, closeO, err := adminOf(c.Origin)
	if err != nil {
		return res, err
	}
	defer closeO()
	target, closeT, err := adminOf(c.Target)
	if err != nil {
		return res, err
	}
	defer closeT()
	listed, err := origin.ListTopics(ctx)
	if err != nil {
		return res, fmt.Errorf("list origin topics: %w", err)
	}
	var names, targets []string
	for _, t := range listed.Sorted() {
		if !t.IsInternal && t.Err == nil && c.Topics(t.Topic) {
			names = append(names, t.Topic)
			targets = append(targets, rename(t.Topic))
		}
	}
	if len(names) == 0 {
		return res, nil
	}
	want, err := effective(ctx, origin, names, c.Keys)
	if err != nil {
		return res, fmt.Errorf("origin topic configs: %w", err)
	}
	have, err := effective(ctx, target, targets, c.Keys)
	if err != nil {
		return res, fmt.Errorf("target topic configs: %w", err)
	}
	for i, t := range names {
		tt := targets[i]
		h, ok := have[tt]
		if !ok {
			continue // not created on the target yet
		}
		res.Topics++
		var set []kadm.AlterConfig
		for _, k := range c.Keys {
			o, t := want[t][k], h[k]
			if o == t {
				continue
			}
			line := fmt.Sprintf("%s %s: %s -> %s", tt, k, t, o)
			if k == topicconf.MinISR && lower(o, t) {
				res.Left = append(res.Left, line+" (not lowered: Ferry never lowers min.insync.replicas)")
				continue
			}
			v := o
			set = append(set, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			res.Corrected = append(res.Corrected, line)
		}
		if len(set) == 0 {
			continue
		}
		resp, err := target.AlterTopicConfigs(ctx, set, tt)
		if err == nil {
			for _, r := range resp {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			return res, fmt.Errorf("set configs of %s on the target: %w", tt, err)
		}
	}
	return res, nil
}

// effective reads the effective value of keys on topics.
func effective(ctx context.Context, adm *kadm.Client, topics, keys []string) (map[string]map[string]string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, rc := range rcs {
		if rc.Err != nil {
			continue
		}
		m := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil && slices.Contains(keys, c.Key) {
				m[c.Key] = *c.Value
			}
		}
		out[rc.Name] = m
	}
	return out, nil
}

// lower reports whether number a is below number b.
func lower(a, b string) bool {
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	return err1 == nil && err2 == nil && x < y
}

// adminOf is a kadm client of its own, with a close function.
func adminOf(opts []kgo.Opt) (*kadm.Client, func(), error) {
	a, err := newAdmin(opts)
	if err != nil {
		return nil, nil, err
	}
	return a.adm, a.Close, nil
}
