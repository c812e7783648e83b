package activities

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/connect"
	"github.com/ferryhq/ferry/internal/kafka"
	"github.com/ferryhq/ferry/internal/mm2"
)

// The connect engine: MirrorMaker 2's connectors on a Kafka Connect cluster the user runs.

func connectClient(ctx context.Context, spec engine.MirrorSpec) (*connect.Client, string, error) {
	cs := spec.Replication.Connect
	if cs == nil {
		return nil, "", badInput("engine connect needs replication.connect (url at least)")
	}
	user, err := ResolveSecret(ctx, cs.Username)
	if err != nil {
		return nil, "", err
	}
	pass, err := ResolveSecret(ctx, cs.Password)
	if err != nil {
		return nil, "", err
	}
	prefix := cs.Name
	if prefix == "" {
		prefix = "ferry-" + spec.Runbook
	}
	cl := connect.New(cs.URL, user, pass)
	if cs.TLS != nil {
		cfg, err := kafka.TLSConfig(ctx, "replication.connect.tls", cs.TLS, ResolveSecret)
		if err != nil {
			return nil, "", badInput("%v", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg
		cl.HTTP.Transport = tr
	}
	return cl, prefix, nil
}

// connectDeploy creates (or updates) the three connectors and waits until each connector and
// task runs.
func connectDeploy(ctx context.Context, spec engine.MirrorSpec) (map[string]any, error) {
	c, prefix, err := connectClient(ctx, spec)
	if err != nil {
		return nil, err
	}
	rep := spec.Replication
	origin, err := kafka.Properties(ctx, rep.Origin, spec.Clusters[rep.Origin], ResolveSecret)
	if err != nil {
		return nil, badInput("%v", err)
	}
	target, err := kafka.Properties(ctx, rep.Target, spec.Clusters[rep.Target], ResolveSecret)
	if err != nil {
		return nil, badInput("%v", err)
	}
	for name, cfg := range connect.Connectors(prefix, rep, origin, target) {
		if err := c.Put(ctx, name, cfg); err != nil {
			if connect.Permanent(err) {
				return nil, temporal.NewNonRetryableApplicationError("connector "+name+": "+err.Error(), "BadInput", nil)
			}
			return nil, err // unreachable, or 409 during a rebalance: retried
		}
	}
	msg, err := poll(ctx, time.Second, func() (bool, string, error) {
		h, err := connectHealth(ctx, c, prefix)
		if err != nil {
			return false, "", err
		}
		if h.Failed {
			return false, h.Message, temporal.NewNonRetryableApplicationError(h.Message, "MirrorFailed", nil)
		}
		return h.Ready, h.Message, nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"mirror": c.URL + " " + prefix, "connectors": connect.Names(prefix), "status": msg}, nil
}

func connectHealth(ctx context.Context, c *connect.Client, prefix string) (mm2.Health, error) {
	var statuses []mm2.Status
	for _, name := range connect.Names(prefix) {
		s, found, err := c.Status(ctx, name)
		if err != nil {
			return mm2.Health{}, err
		}
		if found {
			statuses = append(statuses, s)
		}
	}
	return mm2.Judge(statuses, []string{mm2.Source, mm2.Checkpoint, mm2.Heartbeat}), nil
}

func connectWatch(ctx context.Context, spec engine.MirrorSpec) error {
	c, prefix, err := connectClient(ctx, spec)
	if err != nil {
		return err
	}
	for {
		h, err := connectHealth(ctx, c, prefix)
		if err != nil && ctx.Err() == nil {
			activity.RecordHeartbeat(ctx, map[string]any{"mirror": prefix, "status": err.Error()})
		} else {
			activity.RecordHeartbeat(ctx, map[string]any{"mirror": prefix, "ready": h.Ready, "status": h.Message})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

func connectRemove(ctx context.Context, spec engine.MirrorSpec) error {
	c, prefix, err := connectClient(ctx, spec)
	if err != nil {
		return err
	}
	for _, name := range connect.Names(prefix) {
		if err := c.Delete(ctx, name); err != nil {
			return err
		}
	}
	return nil
}
