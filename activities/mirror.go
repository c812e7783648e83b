package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/kafka"
	"github.com/ferryhq/ferry/internal/mirror"
)

// MirrorRunActivity is the long-running copy of the builtin engine. It heartbeats its
// progress and, restarted after a crash, continues from what the target holds.
const MirrorRunActivity = "mirror.run"

// MirrorRun copies until cancelled (by mirror.stop or the end of the run).
func MirrorRun(ctx context.Context, spec engine.MirrorSpec) error {
	rep := spec.Replication
	origin, err := kafka.Options(ctx, rep.Origin, spec.Clusters[rep.Origin], ResolveSecret)
	if err != nil {
		return badInput("%v", err)
	}
	target, err := kafka.Options(ctx, rep.Target, spec.Clusters[rep.Target], ResolveSecret)
	if err != nil {
		return badInput("%v", err)
	}
	activity.RecordHeartbeat(ctx, map[string]any{"phase": "starting"})
	err = mirror.Run(ctx, mirror.Config{
		Origin: origin, Target: target,
		Select:    rep.Topics.Select,
		Rename:    rep.TargetTopic,
		SyncTopic: rep.SyncTopic(),
		Heartbeat: &mirror.Heartbeat{Source: rep.OriginAlias(), Target: rep.Target},
		Progress: func(p mirror.Progress) {
			behind := make([]string, len(p.Behind))
			for i, b := range p.Behind {
				behind[i] = b.String()
			}
			activity.RecordHeartbeat(ctx, map[string]any{"records": p.Records, "bytes": p.Bytes, "partitions": p.Partitions, "lag": p.TotalLag, "behind": behind})
		},
	})
	if errors.Is(err, mirror.ErrSyncTopicCompacted) {
		return badInput("%v", err) // retrying cannot help: someone must change the topic
	}
	return err
}
