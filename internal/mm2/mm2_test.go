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
	if _, cp := Configs(rep); cp["sync.group.offsets.enabled"] != "false" {
		t.Fatalf("migration: sync.group.offsets.enabled = %v", cp["sync.group.offsets.enabled"])
	}
	rep.SyncGroups = runbook.Duration(30 * time.Second)
	_, cp := Configs(rep)
	if cp["sync.group.offsets.enabled"] != "true" || cp["sync.group.offsets.interval.seconds"] != 30 {
		t.Fatalf("standby: %v, every %v", cp["sync.group.offsets.enabled"], cp["sync.group.offsets.interval.seconds"])
	}
	rep.SyncGroups = runbook.Duration(200 * time.Millisecond)
	if _, cp := Configs(rep); cp["sync.group.offsets.interval.seconds"] != 1 {
		t.Fatalf("under a second: every %v, want MirrorMaker 2's minimum 1", cp["sync.group.offsets.interval.seconds"])
	}
}
