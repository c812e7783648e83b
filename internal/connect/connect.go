// Package connect drives MirrorMaker 2 on a Kafka Connect cluster (the connect engine): it
// generates the MirrorSourceConnector, MirrorCheckpointConnector and MirrorHeartbeatConnector
// of a replication and creates, inspects and deletes them over Connect's REST API.
package connect

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/mm2"
	"github.com/ferryhq/ferry/runbook"
)

// Client is a Kafka Connect REST client.
type Client struct {
	URL            string
	User, Password string
	HTTP           *http.Client
}

// New returns a client of a REST endpoint.
func New(endpoint, user, password string) *Client {
	return &Client{URL: strings.TrimRight(endpoint, "/"), User: user, Password: password, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is a REST error with Connect's message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("kafka connect: %d %s", e.Status, e.Message) }

// Permanent reports whether retrying the request cannot help: Connect refused it (4xx other
// than 409, which Connect answers during a rebalance), or TLS failed — the server's
// certificate is not trusted, or the server refused ours.
func Permanent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusConflict
	}
	var verify *tls.CertificateVerificationError
	var op *net.OpError // crypto/tls reports an alert from the server as a "remote error"
	return errors.As(err, &verify) || (errors.As(err, &op) && op.Op == "remote error")
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("kafka connect %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var m struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &m)
		if m.Message == "" {
			m.Message = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: m.Message}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Put creates or updates a connector (PUT /connectors/NAME/config): running it twice with the
// same config changes nothing.
func (c *Client) Put(ctx context.Context, name string, config map[string]string) error {
	return c.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(name)+"/config", config, nil)
}

// Status reads a connector's state and its tasks'; found is false for an unknown connector.
func (c *Client) Status(ctx context.Context, name string) (s mm2.Status, found bool, err error) {
	err = c.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/status", nil, &s)
	if e, ok := err.(*Error); ok && e.Status == http.StatusNotFound {
		return s, false, nil
	}
	return s, err == nil, err
}

// Delete deletes a connector; an unknown one is fine.
func (c *Client) Delete(ctx context.Context, name string) error {
	err := c.do(ctx, http.MethodDelete, "/connectors/"+url.PathEscape(name), nil, nil)
	if e, ok := err.(*Error); ok && e.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// Names are the connectors of a replication: <prefix>.<class>.
func Names(prefix string) []string {
	return []string{prefix + "." + mm2.Source, prefix + "." + mm2.Checkpoint, prefix + "." + mm2.Heartbeat}
}

// Connectors builds the three connectors' configs. origin and target are the Kafka client
// properties of each cluster (bootstrap.servers, security); they may hold secrets, which go to
// Connect only. largest is the largest record the origin's topics accept (mm2.Configs).
func Connectors(prefix string, rep *runbook.Replication, origin, target map[string]string, largest int) map[string]map[string]string {
	source, checkpoint := mm2.Configs(rep, largest)
	tasks := 1
	if rep.Connect != nil && rep.Connect.TasksMax > 0 {
		tasks = rep.Connect.TasksMax
	}
	common := map[string]any{
		"source.cluster.alias": rep.OriginAlias(),
		"target.cluster.alias": rep.Target,
		"key.converter":        "org.apache.kafka.connect.converters.ByteArrayConverter",
		"value.converter":      "org.apache.kafka.connect.converters.ByteArrayConverter",
		"header.converter":     "org.apache.kafka.connect.converters.ByteArrayConverter",
	}
	for k, v := range origin {
		common["source.cluster."+k] = v
	}
	for k, v := range target {
		common["target.cluster."+k] = v
	}
	source["connector.class"] = "org.apache.kafka.connect.mirror." + mm2.Source
	source["tasks.max"] = tasks
	source["topics"] = mm2.Pattern(rep.Topics.Include, true)
	if len(rep.Topics.Exclude) > 0 {
		source["topics.exclude"] = mm2.Pattern(rep.Topics.Exclude, false)
	}
	checkpoint["connector.class"] = "org.apache.kafka.connect.mirror." + mm2.Checkpoint
	checkpoint["tasks.max"] = 1
	checkpoint["groups"] = mm2.Pattern(rep.Groups.Include, true)
	if len(rep.Groups.Exclude) > 0 {
		checkpoint["groups.exclude"] = mm2.Pattern(rep.Groups.Exclude, false)
	}
	heartbeat := map[string]any{
		"connector.class":                     "org.apache.kafka.connect.mirror." + mm2.Heartbeat,
		"tasks.max":                           1,
		"emit.heartbeats.interval.seconds":    mm2.Seconds(rep.HeartbeatInterval, 1),
		"heartbeats.topic.replication.factor": source["replication.factor"],
	}
	for k, v := range mm2.Policy(rep) {
		heartbeat[k] = v
	}
	out := map[string]map[string]string{}
	names := Names(prefix)
	for i, cfg := range []map[string]any{source, checkpoint, heartbeat} {
		m := map[string]string{"name": names[i]}
		for k, v := range common {
			m[k] = fmt.Sprint(v)
		}
		for k, v := range cfg {
			m[k] = fmt.Sprint(v)
		}
		out[names[i]] = m
	}
	return out
}
