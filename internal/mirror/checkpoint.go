package mirror

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Checkpoint is one MirrorMaker 2 checkpoint record (topic <source>.checkpoints.internal on
// the target): where a group's committed origin offset lands on the target, by MM2's own
// translation.
type Checkpoint struct {
	Group string
	Partition
	Upstream, Downstream int64
	Metadata             string
}

// CheckpointTopic is MirrorMaker 2's checkpoint topic for a source alias.
func CheckpointTopic(sourceAlias string) string { return sourceAlias + ".checkpoints.internal" }

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
