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

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/mirror"
)

func init() {
	register(engine.StepDrillMeasure, drillMeasure)
}

// drillMeasure measures a standby without changing anything on either cluster: how old the
// oldest record not yet copied is (RPO), where each group would resume after a failover
// compared with its exact position, and how long a consumer takes to read at that position.
func drillMeasure(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, f, err := flowStep[engine.DrillMeasureParams](ctx, in)
	if err != nil {
		return engine.StepResult{}, err
	}
	defer f.close()
	now := time.Now()
	parts, counts, err := f.partitions(ctx, nil)
	if err != nil {
		return engine.StepResult{}, err
	}
	var topics, targets []string
	for t := range counts {
		topics, targets = append(topics, t), append(targets, f.rep.TargetTopic(t))
	}
	sort.Strings(topics)
	sort.Strings(targets)
	var report []string
	var rpo time.Duration
	var lag int64
	var worst string // the partition that sets the RPO
	tends := kadm.ListedOffsets{}
	m, err := mirror.LoadMapping(ctx, f.targetOpts, f.rep.SyncTopic())
	if err != nil {
		return engine.StepResult{}, err
	}
	if len(parts) > 0 {
		lso, err := f.origin.ListCommittedOffsets(ctx, topics...)
		if err != nil {
			return engine.StepResult{}, fmt.Errorf("origin end offsets: %w", err)
		}
		if tends, err = f.target.ListEndOffsets(ctx, targets...); err != nil {
			return engine.StepResult{}, fmt.Errorf("target end offsets: %w", err)
		}
		for _, part := range parts {
			oe, _ := lso.Lookup(part.Topic, part.Partition)
			te, ok := tends.Lookup(f.rep.TargetTopic(part.Topic), part.Partition)
			copied := int64(0) // nothing copied: every record is at risk
			if ok && te.Err == nil {
				if c, ok := m.Resume(part, te.Offset); ok {
					copied = c
				}
			} else {
				report = append(report, fmt.Sprintf("%s: not on the target", part))
			}
			if copied >= oe.Offset {
				continue
			}
			rec, err := mirror.FirstRecord(ctx, f.originOpts, part, copied)
			if err != nil {
				return engine.StepResult{}, fmt.Errorf("%s: read origin: %w", part, err)
			}
			if rec == nil {
				continue // only transaction markers left
			}
			lag += oe.Offset - rec.Offset
			if age := now.Sub(rec.Timestamp); age > rpo {
				rpo = age
				worst = fmt.Sprintf("%s: %d offsets not copied, the oldest written %s ago", part, oe.Offset-rec.Offset, age.Round(time.Millisecond))
			}
		}
	}
	if worst != "" {
		report = append(report, worst)
	}

	groups, err := f.groups(ctx, p.Groups)
	if err != nil {
		return engine.StepResult{}, err
	}
	fetched := f.origin.FetchManyOffsets(ctx, groups...)
	if err := fetched.Error(); err != nil {
		return engine.StepResult{}, fmt.Errorf("fetch origin group offsets: %w", err)
	}
	var behind, missing, worstBehind int64
	var readTime time.Duration
	for _, g := range groups {
		cur, err := f.target.FetchOffsets(ctx, g)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return engine.StepResult{}, fmt.Errorf("group %s: target offsets: %w", g, err)
		}
		var groupBehind int64
		positions := map[string]map[int32]kgo.Offset{}
		for _, o := range fetched[g].Fetched.Offsets().Sorted() {
			if o.At < 0 || !f.rep.Topics.Select(o.Topic) {
				continue
			}
			part := mirror.Partition{Topic: o.Topic, Partition: o.Partition}
			tt := f.rep.TargetTopic(o.Topic)
			te, _ := tends.Lookup(tt, o.Partition)
			at, err := f.translate(ctx, m, part, o.At, te.Offset)
			if errors.Is(err, mirror.ErrNotMirrored) {
				at = te.Offset // what the group read is not all copied: RPO counts it
			} else if err != nil {
				return engine.StepResult{}, fmt.Errorf("group %s: %w", g, err)
			}
			c, ok := cur.Lookup(tt, o.Partition)
			switch {
			case !ok || c.Err != nil || c.At < 0:
				missing++
				report = append(report, fmt.Sprintf("group %s %s/%d: no position on the target", g, tt, o.Partition))
				continue
			case c.At > at:
				report = append(report, fmt.Sprintf("group %s %s/%d: %d records ahead of its origin position (a failover would skip them)", g, tt, o.Partition, c.At-at))
			case c.At < at:
				groupBehind += at - c.At
			}
			if c.At < te.Offset {
				if positions[tt] == nil {
					positions[tt] = map[int32]kgo.Offset{}
				}
				positions[tt][o.Partition] = kgo.NewOffset().At(c.At)
			}
		}
		if groupBehind > 0 {
			report = append(report, fmt.Sprintf("group %s: %d records behind its origin position (read again after a failover)", g, groupBehind))
		}
		behind += groupBehind
		worstBehind = max(worstBehind, groupBehind)
		d, err := trialRead(ctx, f.targetOpts, positions)
		if err != nil {
			return engine.StepResult{}, fmt.Errorf("group %s: trial read on the target: %w", g, err)
		}
		readTime = max(readTime, d)
	}
	report = append([]string{fmt.Sprintf("rpo %s, %d offsets not copied; %d groups: %d records behind, %d partitions without a position; trial read %s",
		rpo.Round(time.Millisecond), lag, len(groups), behind, missing, readTime.Round(time.Millisecond))}, report...)
	out := map[string]any{"rpo": engine.Duration(rpo.Round(time.Millisecond)).String(), "lag": lag, "behind": behind, "missing": missing,
		"readTime": engine.Duration(readTime.Round(time.Millisecond)).String(), "report": report}
	var failed []string
	if max := p.MaxRPO.D(); max > 0 && rpo > max {
		failed = append(failed, fmt.Sprintf("rpo %s is over maxRPO %s", rpo.Round(time.Millisecond), max))
	}
	if p.MaxBehind != nil && worstBehind > *p.MaxBehind {
		failed = append(failed, fmt.Sprintf("a group is %d records behind, over maxBehind %d", worstBehind, *p.MaxBehind))
	}
	if missing > 0 && p.MaxBehind != nil {
		failed = append(failed, fmt.Sprintf("%d group partitions have no position on the target", missing))
	}
	if len(failed) > 0 {
		return engine.StepResult{}, badInput("drill failed: %s\n%s", strings.Join(failed, "; "), strings.Join(report, "\n"))
	}
	return engine.StepResult{Outputs: out}, nil
}

// trialRead fetches from the given positions, as a consumer started there would, without
// joining a group or committing: the time until the first record arrives.
func trialRead(ctx context.Context, target []kgo.Opt, at map[string]map[int32]kgo.Offset) (time.Duration, error) {
	if len(at) == 0 {
		return 0, nil // nothing left to read at these positions
	}
	start := time.Now()
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), target...), kgo.ConsumePartitions(at), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		fs := cl.PollRecords(rctx, 1)
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		if len(fs.Records()) > 0 {
			return time.Since(start), nil
		}
	}
}
