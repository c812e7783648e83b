package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// Drill is a standby's measured state: what a failover now would lose or read again.
type Drill struct {
	// RPO is the age of the oldest origin record not yet on the target; Lag the offsets not
	// copied yet.
	RPO time.Duration
	Lag int64
	// Groups measured; Behind, the records they would read again after a failover (summed),
	// WorstBehind the most for one group; Missing, group partitions with no target position.
	Groups                       int
	Behind, WorstBehind, Missing int64
	// ReadTime is the longest time a consumer started at a group's position took to get a record.
	ReadTime time.Duration
	// Report says it in lines: the summary first, then every finding.
	Report []string
}

// MeasureDrill measures the standby without changing anything on either cluster: how old the
// oldest record not yet copied is (RPO), where each group would resume after a failover
// compared with its exact position, and how long a consumer takes to read at that position.
// now is the clock the RPO is measured by.
func (f *Flow) MeasureDrill(ctx context.Context, groups *runbook.Patterns, now time.Time) (*Drill, error) {
	return f.measure(ctx, groups, now, true)
}

// MeasureStandby is MeasureDrill without the trial reads: cheap enough to repeat every few
// seconds for as long as a standby runs.
func (f *Flow) MeasureStandby(ctx context.Context, groups *runbook.Patterns, now time.Time) (*Drill, error) {
	return f.measure(ctx, groups, now, false)
}

func (f *Flow) measure(ctx context.Context, groups *runbook.Patterns, now time.Time, trial bool) (*Drill, error) {
	d := &Drill{}
	m, err := mirror.LoadMapping(ctx, f.TargetOpts, f.Rep.SyncTopic())
	if err != nil {
		return nil, err
	}
	tends, err := f.measureRPO(ctx, d, m, now)
	if err != nil {
		return nil, err
	}
	if err := f.measureGroups(ctx, d, m, tends, groups, trial); err != nil {
		return nil, err
	}
	d.Report = append([]string{fmt.Sprintf("rpo %s, %d offsets not copied; %d groups: %d records behind, %d partitions without a position; trial read %s",
		d.RPO.Round(time.Millisecond), d.Lag, d.Groups, d.Behind, d.Missing, d.ReadTime.Round(time.Millisecond))}, d.Report...)
	return d, nil
}

// Check fails the drill, with its report, past the limits (zero: no limit; maxBehind nil: no
// limit on positions behind or missing).
func (d *Drill) Check(maxRPO time.Duration, maxBehind *int64) error {
	var failed []string
	if maxRPO > 0 && d.RPO > maxRPO {
		failed = append(failed, fmt.Sprintf("rpo %s is over maxRPO %s", d.RPO.Round(time.Millisecond), maxRPO))
	}
	if maxBehind != nil && d.WorstBehind > *maxBehind {
		failed = append(failed, fmt.Sprintf("a group is %d records behind, over maxBehind %d", d.WorstBehind, *maxBehind))
	}
	if d.Missing > 0 && maxBehind != nil {
		failed = append(failed, fmt.Sprintf("%d group partitions have no position on the target", d.Missing))
	}
	if len(failed) > 0 {
		return refuse("drill failed: %s\n%s", strings.Join(failed, "; "), strings.Join(d.Report, "\n"))
	}
	return nil
}

// measureRPO finds the oldest record not yet copied; it returns the target's end offsets.
func (f *Flow) measureRPO(ctx context.Context, d *Drill, m *mirror.Mapping, now time.Time) (offsets, error) {
	parts, counts, err := f.Partitions(ctx, nil)
	if err != nil || len(parts) == 0 {
		return offsets{}, err
	}
	topics, targets := f.topicNames(counts)
	lso, err := listOffsets(ctx, f.Origin, "origin", logStable, topics)
	if err != nil {
		return offsets{}, err
	}
	tends, err := listOffsets(ctx, f.Target, "target", logEnd, targets)
	if err != nil {
		return offsets{}, err
	}
	var worst string // the partition that sets the RPO
	for _, part := range parts {
		oe, err := lso.at(part)
		if err != nil {
			return offsets{}, err
		}
		copied := int64(0) // nothing copied: every record is at risk
		te, err := tends.at(f.targetPartition(part))
		switch {
		case errors.Is(err, errAbsent):
			d.Report = append(d.Report, fmt.Sprintf("%s: not on the target", part))
		case err != nil:
			return offsets{}, err
		default:
			if c, ok := m.Resume(part, te); ok {
				copied = c
			}
		}
		if copied >= oe {
			continue
		}
		rec, err := mirror.FirstRecord(ctx, f.OriginOpts, part, copied)
		if err != nil {
			return offsets{}, fmt.Errorf("%s: read origin: %w", part, err)
		}
		if rec == nil {
			continue // only transaction markers left
		}
		d.Lag += oe - rec.Offset
		if age := now.Sub(rec.Timestamp); age > d.RPO {
			d.RPO = age
			worst = fmt.Sprintf("%s: %d offsets not copied, the oldest written %s ago", part, oe-rec.Offset, age.Round(time.Millisecond))
		}
	}
	if worst != "" {
		d.Report = append(d.Report, worst)
	}
	return tends, nil
}

// measureGroups compares each group's target position with its exact one and reads there.
func (f *Flow) measureGroups(ctx context.Context, d *Drill, m *mirror.Mapping, tends offsets, sel *runbook.Patterns, trial bool) error {
	groups, err := f.Groups(ctx, sel)
	if err != nil {
		return err
	}
	d.Groups = len(groups)
	fetched := f.Origin.FetchManyOffsets(ctx, groups...)
	if err := fetched.Error(); err != nil {
		return fmt.Errorf("fetch origin group offsets: %w", err)
	}
	// One request for every group's target positions, not one each: 10,000 groups.
	current := f.Target.FetchManyOffsets(ctx, groups...)
	reads := make(map[string]map[string]map[int32]kgo.Offset, len(groups))
	for _, g := range groups {
		cur := current[g]
		if cur.Err != nil && !errors.Is(cur.Err, kerr.GroupIDNotFound) {
			return fmt.Errorf("group %s: target offsets: %w", g, cur.Err)
		}
		positions, behind, err := f.measureGroup(ctx, d, m, tends, g, fetched[g].Fetched.Offsets(), cur.Fetched)
		if err != nil {
			return err
		}
		if behind > 0 {
			d.Report = append(d.Report, fmt.Sprintf("group %s: %d records behind its origin position (read again after a failover)", g, behind))
		}
		d.Behind += behind
		d.WorstBehind = max(d.WorstBehind, behind)
		reads[g] = positions
	}
	if !trial {
		return nil
	}
	// Trial reads, a few at a time: each is a consumer of its own, mostly waiting.
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(trialReads)
	for _, g := range groups {
		eg.Go(func() error {
			took, err := trialRead(ectx, f.TargetOpts, reads[g])
			if err != nil {
				return fmt.Errorf("group %s: trial read on the target: %w", g, err)
			}
			mu.Lock()
			d.ReadTime = max(d.ReadTime, took)
			mu.Unlock()
			return nil
		})
	}
	return eg.Wait()
}

// trialReads is how many trial reads run at once.
const trialReads = 16

// measureGroup finds how far one group's target positions are behind its exact ones, and the
// positions a consumer there would read from.
func (f *Flow) measureGroup(ctx context.Context, d *Drill, m *mirror.Mapping, tends offsets, g string, origin kadm.Offsets, cur kadm.OffsetResponses) (map[string]map[int32]kgo.Offset, int64, error) {
	var behind int64
	positions := map[string]map[int32]kgo.Offset{}
	for _, o := range origin.Sorted() {
		if o.At < 0 || !f.Rep.Replicates(o.Topic) {
			continue
		}
		p := mirror.Partition{Topic: o.Topic, Partition: o.Partition}
		tt := f.Rep.TargetTopic(o.Topic)
		te, err := tends.at(f.targetPartition(p))
		if err != nil && !errors.Is(err, errAbsent) { // absent: no position there either (below)
			return nil, 0, err
		}
		at, err := f.translate(ctx, m, p, o.At, te)
		if errors.Is(err, mirror.ErrNotMirrored) {
			at = te // what the group read is not all copied: RPO counts it
		} else if err != nil {
			return nil, 0, fmt.Errorf("group %s: %w", g, err)
		}
		c, ok := cur.Lookup(tt, o.Partition)
		switch {
		case !ok || c.Err != nil || c.At < 0:
			d.Missing++
			d.Report = append(d.Report, fmt.Sprintf("group %s %s/%d: no position on the target", g, tt, o.Partition))
			continue
		case c.At > at:
			d.Report = append(d.Report, fmt.Sprintf("group %s %s/%d: %d records ahead of its origin position (a failover would skip them)", g, tt, o.Partition, c.At-at))
		case c.At < at:
			behind += at - c.At
		}
		if c.At < te {
			if positions[tt] == nil {
				positions[tt] = map[int32]kgo.Offset{}
			}
			positions[tt][o.Partition] = kgo.NewOffset().At(c.At)
		}
	}
	return positions, behind, nil
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
