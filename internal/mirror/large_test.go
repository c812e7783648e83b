package mirror

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// A 4 MB record, legal on an origin topic with max.message.bytes 10 MB, among small ones.
func largeRecordOrigin(t *testing.T) []kgo.Opt {
	origin := cluster(t)
	big := "10000000"
	if _, err := kadm.NewClient(client(t, origin)).CreateTopic(context.Background(), 1, 1, map[string]*string{"max.message.bytes": &big}, "media"); err != nil {
		t.Fatal(err)
	}
	prod := client(t, origin, kgo.ProducerBatchMaxBytes(10_000_000), kgo.DefaultProduceTopic("media"))
	for i, v := range [][]byte{[]byte("small 0"), bytes.Repeat([]byte("x"), 4<<20), []byte("small 2")} {
		if err := prod.ProduceSync(context.Background(), &kgo.Record{Key: []byte{byte(i)}, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return origin
}

// The mirror copies every record the origin topic took, up to its max.message.bytes, when
// the target topic takes as much.
func TestMirrorCopiesLargeRecords(t *testing.T) {
	origin, target := largeRecordOrigin(t), cluster(t)
	big := "10000000"
	if _, err := kadm.NewClient(client(t, target)).CreateTopic(context.Background(), 1, 1, map[string]*string{"max.message.bytes": &big}, "media"); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("o"), Discover: 100 * time.Millisecond}
	mirrorUntil(t, cfg, 3)
	checkExact(t, origin, target, Partition{"media", 0}, cfg.SyncTopic)
	if got := readAll(t, target, Partition{"media", 0}); len(got) != 3 || len(got[1].body) < 4<<20 {
		t.Fatalf("target holds %d records", len(got))
	}
}

// A target topic that takes less stops the mirror at once, naming the record, its size and
// the setting to change, instead of stalling on it.
func TestMirrorStopsOnARecordTheTargetCannotTake(t *testing.T) {
	origin, target := largeRecordOrigin(t), cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Made before, with the broker default (the mirror would give it the origin's setting).
	if _, err := kadm.NewClient(client(t, target)).CreateTopic(ctx, 1, 1, nil, "media"); err != nil {
		t.Fatal(err)
	}
	err := Run(ctx, Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("o"), Discover: 100 * time.Millisecond})
	var tooLarge *RecordTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.OriginOffset != 1 || tooLarge.Bytes != 4<<20+1 || tooLarge.Limit != defaultBatchBytes {
		t.Fatalf("want the record at origin offset 1 named, got %v", err)
	}
	if !strings.Contains(err.Error(), "raise max.message.bytes on the target topic") || ctx.Err() != nil {
		t.Fatalf("%v (after %v)", err, ctx.Err())
	}
	if got := readAll(t, target, Partition{"media", 0}); len(got) != 1 {
		t.Fatalf("the target holds %d records; want the one before the large record", len(got))
	}
}
