package mirror

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Checkpoint is one MirrorMaker 2 checkpoint record (topic <source>.checkpoints.internal on
// the target): where a group's committed origin offset lands on the target. Partition is the
// target's (renamed) topic partition, as MM2 writes it and its clients read it.
type Checkpoint struct {
	Group string
	Partition
	Upstream, Downstream int64
	Metadata             string
}

// Record encodes the checkpoint as MirrorMaker 2 does (see DecodeCheckpoint); the key is
// the group and partition, so a compacted checkpoint topic keeps the newest.
func (c Checkpoint) Record(topic string) *kgo.Record {
	str := func(b []byte, s string) []byte {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		return append(b, s...)
	}
	key := str(nil, c.Group)
	key = str(key, c.Topic)
	key = binary.BigEndian.AppendUint32(key, uint32(c.Partition.Partition))
	val := binary.BigEndian.AppendUint16(nil, 0) // version
	val = binary.BigEndian.AppendUint64(val, uint64(c.Upstream))
	val = binary.BigEndian.AppendUint64(val, uint64(c.Downstream))
	val = str(val, c.Metadata)
	return &kgo.Record{Topic: topic, Partition: 0, Key: key, Value: val}
}

// WriteCheckpoints writes checkpoints to topic on the target, creating it as MirrorMaker 2
// does (one partition, compacted) when absent. Writing the same checkpoints again is harmless.
func WriteCheckpoints(ctx context.Context, target []kgo.Opt, topic string, cps []Checkpoint) error {
	if len(cps) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), target...), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	compact := "compact"
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &compact}, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create checkpoint topic %s: %w", topic, err)
	}
	rs := make([]*kgo.Record, len(cps))
	for i, c := range cps {
		rs[i] = c.Record(topic)
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("write checkpoints to %s: %w", topic, err)
	}
	return nil
}

// DecodeCheckpoint reads MM2's format: key group (int16-length string), topic (string),
// partition (int32); value version (int16, 0), upstream (int64), downstream (int64),
// metadata (string).
func DecodeCheckpoint(r *kgo.Record) (Checkpoint, error) {
	k, v := r.Key, r.Value
	str := func(b []byte) (string, []byte, error) {
		if len(b) < 2 {
			return "", nil, errors.New("short string")
		}
		n := int(int16(binary.BigEndian.Uint16(b)))
		if n < 0 || len(b) < 2+n {
			return "", nil, errors.New("bad string length")
		}
		return string(b[2 : 2+n]), b[2+n:], nil
	}
	group, k, err := str(k)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint key: %w", err)
	}
	topic, k, err := str(k)
	if err != nil || len(k) != 4 {
		return Checkpoint{}, fmt.Errorf("checkpoint key: bad topic or partition")
	}
	if len(v) < 2+8+8 || binary.BigEndian.Uint16(v) != 0 {
		return Checkpoint{}, errors.New("checkpoint value: short or unknown version")
	}
	c := Checkpoint{Group: group, Partition: Partition{Topic: topic, Partition: int32(binary.BigEndian.Uint32(k))},
		Upstream: int64(binary.BigEndian.Uint64(v[2:])), Downstream: int64(binary.BigEndian.Uint64(v[10:]))}
	if len(v) > 18 {
		if c.Metadata, _, err = str(v[18:]); err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint metadata: %w", err)
		}
	}
	return c, nil
}
