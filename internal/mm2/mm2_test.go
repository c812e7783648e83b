package mm2

import (
	"testing"
	"time"

	"github.com/ferryhq/ferry/runbook"
)

// MirrorMaker 2 moves group offsets itself only for a standby (replication.syncGroups);
// otherwise groups.translate does, exactly.
func TestGroupOffsetSyncOnlyForAStandby(t *testing.T) {
	rep := &runbook.Replication{Origin: "na", Target: "eu"}
	if _, cp := Configs(rep, 0); cp["sync.group.offsets.enabled"] != "false" {
		t.Fatalf("migration: sync.group.offsets.enabled = %v", cp["sync.group.offsets.enabled"])
	}
	rep.SyncGroups = runbook.Duration(30 * time.Second)
	_, cp := Configs(rep, 0)
	if cp["sync.group.offsets.enabled"] != "true" || cp["sync.group.offsets.interval.seconds"] != 30 {
		t.Fatalf("standby: %v, every %v", cp["sync.group.offsets.enabled"], cp["sync.group.offsets.interval.seconds"])
	}
	rep.SyncGroups = runbook.Duration(200 * time.Millisecond)
	if _, cp := Configs(rep, 0); cp["sync.group.offsets.interval.seconds"] != 1 {
		t.Fatalf("under a second: every %v, want MirrorMaker 2's minimum 1", cp["sync.group.offsets.interval.seconds"])
	}
}

// The source connector's clients are sized for the largest record an origin topic accepts,
// and left at the client defaults for records within them; mm2.config still wins.
func TestSizedForTheLargestRecord(t *testing.T) {
	rep := &runbook.Replication{Origin: "na", Target: "eu"}
	if src, _ := Configs(rep, 1_048_588); src["producer.override.max.request.size"] != 1_048_588+64<<10 {
		t.Fatalf("Kafka's default max.message.bytes is already over the producer's 1 MiB default: %v", src["producer.override.max.request.size"])
	}
	if src, _ := Configs(rep, 100_000); len(SizeSettings(100_000)) != 0 || src["producer.override.max.request.size"] != nil {
		t.Fatalf("small records: %v", SizeSettings(100_000))
	}
	src, _ := Configs(rep, 10_000_000)
	if src["producer.override.max.request.size"] != 10_000_000+64<<10 || src["source.consumer.max.partition.fetch.bytes"] != 10_000_000+64<<10 ||
		src["producer.override.buffer.memory"] != 32<<20 {
		t.Fatalf("10 MB records: %v", SizeSettings(10_000_000))
	}
	rep.MM2 = &runbook.MM2Settings{Config: map[string]string{"producer.override.max.request.size": "20000000"}}
	if src, _ := Configs(rep, 10_000_000); src["producer.override.max.request.size"] != "20000000" {
		t.Fatalf("mm2.config lost to the derived size: %v", src["producer.override.max.request.size"])
	}
}
