package sandbox

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Migration is what the demo did: the two sandboxes, what it seeded, how long the migration
// took, and what the live apps counted.
type Migration struct {
	Origin, Target string
	Seeded         int
	Took, Paused   time.Duration
	Apps           Counts
}

// Report writes the demo's migration report and checks, for every group and partition, that
// the next record the group reads on the target is exactly the one it would have read next
// on the origin. ok is false when any record was lost, duplicated or would be re-read.
func Report(ctx context.Context, w io.Writer, m Migration) (ok bool, err error) {
	originAddr, targetAddr, written, took, apps, paused := m.Origin, m.Target, m.Seeded, m.Took, m.Apps, m.Paused
	oc, err := kgo.NewClient(kgo.SeedBrokers(originAddr))
	if err != nil {
		return false, err
	}
	defer oc.Close()
	tc, err := kgo.NewClient(kgo.SeedBrokers(targetAddr))
	if err != nil {
		return false, err
	}
	defer tc.Close()
	oadm, tadm := kadm.NewClient(oc), kadm.NewClient(tc)
	tends, err := tadm.ListEndOffsets(ctx, "orders")
	if err != nil {
		return false, err
	}
	var mirrored int64
	tends.Each(func(o kadm.ListedOffset) { mirrored += o.Offset })
	fmt.Fprintf(w, "\nMigration report (%s)\n", took.Round(time.Millisecond))
	fmt.Fprintf(w, "  records in orders on the target:   %d (%d seeded, plus the live producer's before and after the cutover)\n", mirrored, written)
	fmt.Fprintf(w, "  producer paused for the cutover:   %s\n", paused.Round(time.Millisecond))
	fmt.Fprintf(w, "  orders produced by the live app:   %d (before and after the cutover)\n", apps.Produced)
	fmt.Fprintf(w, "  processed by billing:              %d\n", apps.Consumed)
	fmt.Fprintf(w, "  duplicates consumed:               %d\n  records lost:                      %d\n", apps.Duplicates, apps.Lost)
	var checked, mismatched, missing int
	for _, g := range []string{"analytics", "shipping"} {
		oo, err := oadm.FetchOffsets(ctx, g)
		if err != nil {
			return false, err
		}
		to, err := tadm.FetchOffsets(ctx, g)
		if err != nil {
			return false, fmt.Errorf("group %s on the target: %w", g, err)
		}
		for _, o := range oo.Offsets().Sorted() {
			t, ok := to.Lookup(o.Topic, o.Partition)
			if !ok {
				missing++
				continue
			}
			a, err := nextRecord(ctx, originAddr, o.Topic, o.Partition, o.At)
			if err != nil {
				return false, err
			}
			b, err := nextRecord(ctx, targetAddr, o.Topic, o.Partition, t.At)
			if err != nil {
				return false, err
			}
			checked++
			if a != b {
				mismatched++ // the group would re-read or skip records
			}
		}
	}
	fmt.Fprintf(w, "  stopped group positions checked:   %d (2 groups x 6 partitions)\n", checked)
	fmt.Fprintf(w, "  positions not moved:               %d\n", missing)
	fmt.Fprintf(w, "  positions off by any record:       %d (a group would re-read or skip records)\n", mismatched)
	if missing > 0 || mismatched > 0 || apps.Duplicates > 0 || apps.Lost > 0 {
		return false, nil
	}
	fmt.Fprintln(w, "  every group resumes on the target at exactly the record it would have read next on the origin")
	return true, nil
}

// nextRecord returns the value of the first committed record at or after offset, or "" at
// the end of the partition.
func nextRecord(ctx context.Context, addr, topic string, partition int32, offset int64) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}}))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return "", err
	}
	if e, _ := ends.Lookup(topic, partition); e.Offset <= offset {
		return "", nil
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(pctx, 1)
		if pctx.Err() != nil {
			return "", nil // only markers remain
		}
		for _, r := range fs.Records() {
			return string(r.Value), nil
		}
	}
}
