package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// EnsureTopics makes every wanted topic exist on the target (under its renamed name) with at
// least the wanted partition count. Existing topics only ever gain partitions.
func EnsureTopics(ctx context.Context, target *kadm.Client, want map[string]int32, rename func(string) string, rf int16) error {
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
	if rf == 0 {
		rf = -1
	}
	for _, t := range names {
		tt := rename(t)
		cur, ok := have[tt]
		if !ok || errors.Is(cur.Err, kerr.UnknownTopicOrPartition) {
			_, err := target.CreateTopic(ctx, want[t], rf, nil, tt)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create target topic %s: %w", tt, err)
			}
			continue
		}
		if cur.Err != nil {
			return fmt.Errorf("target topic %s: %w", tt, cur.Err)
		}
		if n := int32(len(cur.Partitions)); n < want[t] {
			if _, err := target.UpdatePartitions(ctx, int(want[t]), tt); err != nil {
				return fmt.Errorf("add partitions to target topic %s (%d -> %d): %w", tt, n, want[t], err)
			}
		}
	}
	return nil
}
