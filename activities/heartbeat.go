package activities

import (
	"context"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
)

// Every step heartbeats, whether or not it has progress to tell: Temporal learns that a
// worker died from a missed heartbeat, so a step that never heartbeats waits out its whole
// timeout (minutes) before another worker runs it again.

// progressKey holds the step's last reported progress in its context.
type progressKey struct{}

// keepAlive heartbeats the step's last reported progress (see progress) at a quarter of its
// heartbeat timeout until stop is called. Runs recorded before steps had a heartbeat timeout
// have none; their steps then do not heartbeat, as before.
func keepAlive(ctx context.Context) (context.Context, func()) {
	last := &atomic.Value{}
	last.Store(map[string]any{})
	ctx = context.WithValue(ctx, progressKey{}, last)
	if !activity.IsActivity(ctx) {
		return ctx, func() {}
	}
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return ctx, func() {}
	}
	return ctx, heartbeatEvery(ctx, max(timeout/4, time.Second), last.Load)
}

// progress records what a step is doing now as its heartbeat; status shows it, and
// keepAlive repeats it until the step reports again.
func progress(ctx context.Context, details map[string]any) {
	if last, ok := ctx.Value(progressKey{}).(*atomic.Value); ok {
		last.Store(details)
	}
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details)
	}
}

// heartbeatEvery records details() as the activity's heartbeat every interval until the
// returned stop is called.
func heartbeatEvery(ctx context.Context, interval time.Duration, details func() any) (stop func()) {
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			activity.RecordHeartbeat(ctx, details())
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
