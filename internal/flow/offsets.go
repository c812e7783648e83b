package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ferryhq/ferry/internal/mirror"
)

// offsetKind is which offset of each partition's log a listing asks for.
type offsetKind string

const (
	logStart  offsetKind = "start"  // the first offset still held
	logEnd    offsetKind = "end"    // the next offset to be written
	logStable offsetKind = "stable" // the end short of open transactions: what is committed
)

// errAbsent is the error of a partition a cluster does not hold: its topic does not exist
// there (yet), or has fewer partitions.
var errAbsent = errors.New("no such partition")

// offsets are one side's listed offsets of one kind.
type offsets struct {
	side string // origin, target or a cluster's name, for errors
	kind offsetKind
	kadm.ListedOffsets
}

// listOffsets lists one kind of offset of topics on one side.
func listOffsets(ctx context.Context, adm *kadm.Client, side string, kind offsetKind, topics []string) (offsets, error) {
	var l kadm.ListedOffsets
	var err error
	switch kind {
	case logStart:
		l, err = adm.ListStartOffsets(ctx, topics...)
	case logEnd:
		l, err = adm.ListEndOffsets(ctx, topics...)
	default:
		l, err = adm.ListCommittedOffsets(ctx, topics...)
	}
	if err != nil {
		return offsets{}, fmt.Errorf("%s %s offsets: %w", side, kind, err)
	}
	return offsets{side: side, kind: kind, ListedOffsets: l}, nil
}

// at is partition p's offset. A partition the broker could not list is an error, never an
// empty log: read as one, a lag would be 0 and a comparison would pass on nothing. A partition
// the cluster does not hold is an error wrapping errAbsent.
func (o offsets) at(p mirror.Partition) (int64, error) {
	l, ok := o.Lookup(p.Topic, p.Partition)
	switch {
	case !ok || errors.Is(l.Err, kerr.UnknownTopicOrPartition):
		return 0, fmt.Errorf("%s %s: %w", o.side, p, errAbsent)
	case l.Err != nil:
		return 0, fmt.Errorf("%s %s: %s offset: %w", o.side, p, o.kind, l.Err)
	}
	return l.Offset, nil
}

// logs are where each partition's log starts and ends on one side.
type logs struct{ starts, ends offsets }

// listLogs lists where each partition's log starts and ends on one side.
func listLogs(ctx context.Context, adm *kadm.Client, side string, topics []string) (l logs, err error) {
	if l.starts, err = listOffsets(ctx, adm, side, logStart, topics); err != nil {
		return logs{}, err
	}
	if l.ends, err = listOffsets(ctx, adm, side, logEnd, topics); err != nil {
		return logs{}, err
	}
	return l, nil
}

// span is partition p's log [start, end); an error as offsets.at's.
func (l logs) span(p mirror.Partition) (start, end int64, err error) {
	start, err1 := l.starts.at(p)
	end, err2 := l.ends.at(p)
	if errors.Is(err1, errAbsent) {
		return 0, 0, err1
	}
	return start, end, errors.Join(err1, err2)
}
