package mirror

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// Heartbeat says a flow from Source to Target was alive at Timestamp. Encoded as
// MirrorMaker 2's MirrorHeartbeatConnector does, so MM2 tooling (and a downstream MM2 flow
// measuring replication latency) reads Ferry's heartbeats too.
type Heartbeat struct {
	Source, Target string
	Timestamp      time.Time
}

func putString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Record encodes the heartbeat: key source and target alias (int16-length strings), value a
// version header (int16, 0) then the timestamp in milliseconds (int64).
func (h Heartbeat) Record() *kgo.Record {
	key := putString(putString(nil, h.Source), h.Target)
	val := binary.BigEndian.AppendUint16(nil, 0)
	val = binary.BigEndian.AppendUint64(val, uint64(h.Timestamp.UnixMilli()))
	return &kgo.Record{Topic: mm2topic.Heartbeats, Partition: 0, Key: key, Value: val}
}

// DecodeHeartbeat reads a heartbeat written by Ferry or MirrorMaker 2.
func DecodeHeartbeat(r *kgo.Record) (Heartbeat, error) {
	k := r.Key
	readString := func() (string, bool) {
		if len(k) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(k))
		if len(k) < 2+n {
			return "", false
		}
		s := string(k[2 : 2+n])
		k = k[2+n:]
		return s, true
	}
	src, ok1 := readString()
	tgt, ok2 := readString()
	if !ok1 || !ok2 || len(k) != 0 || len(r.Value) != 10 || binary.BigEndian.Uint16(r.Value) != 0 {
		return Heartbeat{}, errors.New("heartbeat: not MirrorMaker 2's version 0 format")
	}
	return Heartbeat{Source: src, Target: tgt, Timestamp: time.UnixMilli(int64(binary.BigEndian.Uint64(r.Value[2:])))}, nil
}

// heartbeatLookback is how many of a heartbeats partition's last records LastHeartbeat
// reads: flows sharing the topic interleave, but each writes every few seconds.
const heartbeatLookback = 200

// LastHeartbeat finds the newest heartbeat of the flow from source among the last records of
// the heartbeats partitions ending at ends (the target's end offsets of the heartbeats
// topic). found is false when none is there.
func LastHeartbeat(ctx context.Context, opts []kgo.Opt, ends map[Partition]int64, source string) (hb Heartbeat, found bool, err error) {
	starts := make(map[Partition]int64, len(ends))
	for p, end := range ends {
		starts[p] = max(end-heartbeatLookback, 0)
	}
	err = scan(ctx, opts, starts, ends, func(_ Partition, r *kgo.Record) error {
		h, err := DecodeHeartbeat(r)
		if err == nil && h.Source == source && (!found || h.Timestamp.After(hb.Timestamp)) {
			hb, found = h, true
		}
		return nil
	})
	return hb, found, err
}
