package activities

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/connect"
	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/internal/kafka"
	"github.com/ferryhq/ferry/internal/mm2"
	"github.com/ferryhq/ferry/runbook"
)

// connectMirror is MirrorMaker 2's connectors on a Kafka Connect cluster the user runs:
// Ferry creates them, watches them, and deletes them.
type connectMirror struct{}

// exactSyncs: MirrorMaker 2 keeps only the latest pending sync of a burst.
func (connectMirror) exactSyncs() bool { return false }

// client returns the Connect REST client and the connectors' name prefix.
func (connectMirror) client(ctx context.Context, a *Activities, spec runbook.MirrorSpec) (*connect.Client, string, error) {
	cs := spec.Replication.Connect
	if cs == nil {
		return nil, "", badInput("engine connect needs replication.connect (url at least)")
	}
	user, err := a.resolveSecret(ctx, cs.Username)
	if err != nil {
		return nil, "", err
	}
	pass, err := a.resolveSecret(ctx, cs.Password)
	if err != nil {
		return nil, "", err
	}
	prefix := cs.Name
	if prefix == "" {
		prefix = "ferry-" + spec.Runbook
	}
	cl := connect.New(cs.URL, user, pass)
	if cs.TLS != nil {
		cfg, err := kafka.TLSConfig(ctx, "replication.connect.tls", cs.TLS, a.resolveSecret)
		if err != nil {
			return nil, "", badInput("%v", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg
		cl.HTTP.Transport = tr
	}
	return cl, prefix, nil
}

// deploy creates (or updates) the three connectors and waits until each connector and task
// runs.
func (m connectMirror) deploy(ctx context.Context, a *Activities, spec runbook.MirrorSpec, _ *flow.Flow) (map[string]any, error) {
	c, prefix, err := m.client(ctx, a, spec)
	if err != nil {
		return nil, err
	}
	rep, d := spec.Replication, a.dialer()
	origin, err := d.Properties(ctx, rep.Origin, spec.Clusters[rep.Origin])
	if err != nil {
		return nil, badInput("%v", err)
	}
	target, err := d.Properties(ctx, rep.Target, spec.Clusters[rep.Target])
	if err != nil {
		return nil, badInput("%v", err)
	}
	largest, err := a.largestRecord(ctx, spec)
	if err != nil {
		return nil, err
	}
	for name, cfg := range connect.Connectors(prefix, rep, origin, target, largest) {
		if err := c.Put(ctx, name, cfg); err != nil {
			if connect.Permanent(err) {
				return nil, badInput("connector %s: %v", name, err)
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
			return false, h.Message, contract.MirrorFailed.Fail("%s", h.Message)
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

func (m connectMirror) watch(ctx context.Context, a *Activities, spec runbook.MirrorSpec) error {
	c, prefix, err := m.client(ctx, a, spec)
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

func (m connectMirror) remove(ctx context.Context, a *Activities, spec runbook.MirrorSpec) error {
	c, prefix, err := m.client(ctx, a, spec)
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
