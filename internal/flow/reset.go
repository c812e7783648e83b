package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ferryhq/ferry/internal/mirror"
)

// Where a group reset moves positions to.
const (
	ResetEarliest = "earliest"
	ResetLatest   = "latest"
)

// ResetTo says where ResetGroups moves positions: exactly one of To (earliest, latest), At (a
// time: each partition's first offset at or after it) or Offsets (by "topic/partition").
type ResetTo struct {
	To      string
	At      time.Time
	Offsets map[string]int64
}

// Moved is one position a reset changes (or would, in a dry run).
type Moved struct {
	Group, Topic  string
	Partition     int32
	Before, After int64 // Before is -1 where the group had no position
}

func (m Moved) String() string {
	before := "none"
	if m.Before >= 0 {
		before = strconv.FormatInt(m.Before, 10)
	}
	return fmt.Sprintf("%s %s/%d: %s -> %d", m.Group, m.Topic, m.Partition, before, m.After)
}

// ResetGroups sets groups' positions on one cluster (where names it), as kafka-consumer-groups
// --reset-offsets does: on the given topics (the topics each group has positions on when
// none), every partition. Only groups no one consumes with are changed: an active group is
// an error naming its members. With dryRun nothing is written; the result is the same. An
// explicit offset outside a partition's log is an error; so is a topic that does not exist.
// Positions are read back after writing.
func ResetGroups(ctx context.Context, adm *kadm.Client, where string, groups, topics []string, to ResetTo, dryRun bool) ([]Moved, error) {
	if err := idle(ctx, adm, where, groups); err != nil {
		return nil, err
	}
	var out []Moved
	for _, g := range groups {
		current, err := adm.FetchOffsets(ctx, g)
		if errors.Is(err, kerr.GroupIDNotFound) {
			current, err = kadm.OffsetResponses{}, nil // a new group
		}
		if err != nil {
			return nil, fmt.Errorf("positions of %s on %s: %w", g, where, err)
		}
		names := topics
		if len(names) == 0 {
			for t := range current {
				names = append(names, t)
			}
			slices.Sort(names)
		}
		if len(names) == 0 {
			return nil, refuse("%s has no positions on %s: name the topics to reset", g, where)
		}
		want, err := resetTargets(ctx, adm, where, names, to)
		if err != nil {
			return nil, err
		}
		commit := kadm.Offsets{}
		for _, t := range names {
			for p := range int32(len(want[t])) {
				m := Moved{Group: g, Topic: t, Partition: p, Before: -1, After: want[t][p]}
				if c, ok := current.Lookup(t, p); ok && c.Err == nil {
					m.Before = c.At
				}
				out = append(out, m)
				commit.Add(kadm.Offset{Topic: t, Partition: p, At: m.After, LeaderEpoch: -1})
			}
		}
		if dryRun {
			continue
		}
		resp, err := adm.CommitOffsets(ctx, g, commit)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("commit %s on %s: %w", g, where, err)
		}
		back, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("read back %s on %s: %w", g, where, err)
		}
		for t, ps := range commit {
			for p, o := range ps {
				if got, ok := back.Lookup(t, p); !ok || got.At != o.At {
					return nil, fmt.Errorf("%s %s/%d on %s reads back %d, not %d", g, t, p, where, got.At, o.At)
				}
			}
		}
	}
	return out, nil
}

// resetTargets is the offset each partition of topics moves to.
func resetTargets(ctx context.Context, adm *kadm.Client, where string, topics []string, to ResetTo) (map[string][]int64, error) {
	l, err := listLogs(ctx, adm, where, topics)
	if err != nil {
		return nil, err
	}
	var at kadm.ListedOffsets
	if !to.At.IsZero() {
		if at, err = adm.ListOffsetsAfterMilli(ctx, to.At.UnixMilli(), topics...); err != nil {
			return nil, fmt.Errorf("offsets at %s on %s: %w", to.At.Format(time.RFC3339), where, err)
		}
	}
	out := map[string][]int64{}
	for _, t := range topics {
		parts := l.ends.ListedOffsets[t]
		if len(parts) == 0 || parts[-1].Err != nil {
			return nil, refuse("topic %s does not exist on %s", t, where)
		}
		out[t] = make([]int64, len(parts))
		for p := range int32(len(parts)) {
			s, e, err := l.span(mirror.Partition{Topic: t, Partition: p})
			if err != nil {
				return nil, err
			}
			switch {
			case to.To == ResetEarliest:
				out[t][p] = s
			case to.To == ResetLatest:
				out[t][p] = e
			case !to.At.IsZero():
				out[t][p] = e // nothing written at or after the time: the end
				if o, ok := at.Lookup(t, p); ok && o.Err == nil && o.Offset >= 0 {
					out[t][p] = o.Offset
				}
			default:
				key := fmt.Sprintf("%s/%d", t, p)
				o, ok := to.Offsets[key]
				if !ok {
					return nil, refuse("offsets names no offset for %s (every partition of the topics is reset: give all)", key)
				}
				if o < s || o > e {
					return nil, refuse("offset %d for %s is outside its log on %s (%d to %d)", o, key, where, s, e)
				}
				out[t][p] = o
			}
		}
	}
	for key := range to.Offsets {
		t, _, _ := strings.Cut(key, "/")
		if !slices.Contains(topics, t) {
			return nil, refuse("offsets names %s, and %s is not among the topics reset (%s)", key, t, strings.Join(topics, ", "))
		}
	}
	return out, nil
}
