// Package torture writes the awkward records every mirror must copy exactly, to any Kafka
// (kfake or Apache Kafka), for tests: null and empty keys and values, tombstones on compacted
// and plain topics, binary keys, empty, nil, repeated and large headers, records at the size
// limit, batches in every codec, timestamps far in the past, and a LogAppendTime topic.
package torture

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The topics Write creates. Plain holds the odd records, Codecs a batch in each codec,
// Compacted keyed records and tombstones, LogAppend the same records under
// message.timestamp.type=LogAppendTime (the broker stamps them: their timestamps are the
// broker's, not the producer's). Old holds records stamped long ago, which a target with
// message.timestamp.before.max.ms refuses.
const (
	Plain     = "torture.plain"
	Codecs    = "torture.codecs"
	Compacted = "torture.compacted"
	LogAppend = "torture.logappend"
	Old       = "torture.old"
)

// Topics are all of them.
var Topics = []string{Plain, Codecs, Compacted, LogAppend, Old}

// AtLimit is the size of the value of the record at the limit: as large as a 1 MiB batch
// (the broker default max.message.bytes, 1,048,588) holds with its key and headers.
const AtLimit = 1_048_588 - 200

// LongAgo is the timestamp of the old records: 2001-09-09, well inside Kafka's range but
// older than any retention or timestamp window a target would keep.
var LongAgo = time.UnixMilli(1_000_000_000_000)

// Write creates the topics on the cluster opts reach and writes the set. It returns how many
// records each topic holds.
func Write(ctx context.Context, opts ...kgo.Opt) (map[string]int, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	never := "-1"
	compact, logAppend := "compact", "LogAppendTime"
	for topic, cfg := range map[string]map[string]*string{
		Plain:     {"retention.ms": &never},
		Codecs:    {"retention.ms": &never},
		Compacted: {"retention.ms": &never, "cleanup.policy": &compact},
		LogAppend: {"retention.ms": &never, "message.timestamp.type": &logAppend},
		Old:       {"retention.ms": &never},
	} {
		res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, cfg, topic)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", topic, err)
		}
	}
	counts := map[string]int{}
	send := func(p *kgo.Client, topic string, rs ...*kgo.Record) error {
		for _, r := range rs {
			r.Topic = topic
		}
		if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return fmt.Errorf("produce to %s: %w", topic, err)
		}
		counts[topic] += len(rs)
		return nil
	}
	odd := oddRecords()
	if err := send(cl, Plain, odd...); err != nil {
		return nil, err
	}
	// At the limit, alone in its batch.
	if err := send(cl, Plain, &kgo.Record{Key: []byte("at-limit"), Value: bytes.Repeat([]byte{0xAB}, AtLimit)}); err != nil {
		return nil, err
	}
	if err := send(cl, LogAppend, oddRecords()...); err != nil {
		return nil, err
	}
	for _, codec := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression(), kgo.NoCompression()} {
		p, err := kgo.NewClient(append(opts, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(50*time.Millisecond))...)
		if err != nil {
			return nil, err
		}
		var rs []*kgo.Record
		for i := range 50 {
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "c%d", i), Value: bytes.Repeat(fmt.Appendf(nil, "compressible %d ", i), 40),
				Headers: []kgo.RecordHeader{{Key: "codec", Value: fmt.Append(nil, codec)}}})
		}
		err = send(p, Codecs, rs...)
		p.Close()
		if err != nil {
			return nil, err
		}
	}
	var rs []*kgo.Record
	for i := range 30 {
		key := fmt.Appendf(nil, "customer-%d", i%10)
		var value []byte
		if i%4 != 3 {
			value = fmt.Appendf(nil, "state %d", i)
		}
		rs = append(rs, &kgo.Record{Key: key, Value: value}) // every fourth a tombstone
	}
	if err := send(cl, Compacted, rs...); err != nil {
		return nil, err
	}
	rs = nil
	for i := range 5 {
		rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "old-%d", i), Value: []byte("from long ago"), Timestamp: LongAgo.Add(time.Duration(i) * time.Millisecond)})
	}
	if err := send(cl, Old, rs...); err != nil {
		return nil, err
	}
	return counts, nil
}

// oddRecords are one of each awkward shape.
func oddRecords() []*kgo.Record {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	return []*kgo.Record{
		{Key: nil, Value: nil},                          // null key, null value
		{Key: []byte("tombstone"), Value: nil},          // a tombstone on a topic that never compacts
		{Key: []byte{}, Value: []byte{}},                // empty, not null
		{Key: binary, Value: binary},                    // every byte value
		{Key: []byte("no headers"), Value: []byte("v")}, // zero headers
		{Key: []byte("empty header"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "", Value: []byte{}}}},
		{Key: []byte("nil header"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "trace", Value: nil}}},
		{Key: []byte("repeated"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}, {Key: "h", Value: []byte("1")}}},
		{Key: []byte("large header"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "blob", Value: bytes.Repeat([]byte("h"), 100_000)}}},
		{Key: []byte("old"), Value: []byte("v"), Timestamp: LongAgo},
		{Key: []byte("utf8 ключ 🔑"), Value: []byte("значение")},
	}
}
