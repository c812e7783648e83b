// Package strimzi generates the KafkaMirrorMaker2 resource of the strimzi engine (Strimzi or
// IBM Event Streams) from a runbook's replication, in either of the resource's shapes, and
// judges from its status whether MirrorMaker 2 really runs.
package strimzi

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferryhq/ferry/internal/mm2"
	"github.com/ferryhq/ferry/runbook"
)

// Shapes of the KafkaMirrorMaker2 spec.
const (
	// ShapeClusters is the original shape: spec.connectCluster, spec.clusters[] and
	// mirrors[].sourceCluster/targetCluster (v1alpha1..v1beta2, Event Streams).
	ShapeClusters = "clusters"
	// ShapeTarget is the newer shape: spec.target and mirrors[].source (Strimzi's v1 API).
	ShapeTarget = "target"
)

// Kind is the custom resource kind.
const Kind = "KafkaMirrorMaker2"

// Cluster is how the MirrorMaker 2 pods reach one Kafka cluster.
type Cluster struct {
	Alias     string
	Bootstrap string
	// Authentication and TLS are the resource's authentication and tls sections.
	Authentication map[string]any
	TLS            map[string]any
}

// ClusterOf turns a runbook cluster into the resource's terms. MirrorMaker 2 runs in
// Kubernetes, so every secret must be a Kubernetes Secret reference (the operator mounts it);
// the SASL user name is not secret in Strimzi's model and is written as given by username.
func ClusterOf(alias string, c *runbook.Cluster, bootstrap, username string) (Cluster, error) {
	out := Cluster{Alias: alias, Bootstrap: bootstrap}
	if out.Bootstrap == "" {
		out.Bootstrap = strings.Join(c.Bootstrap, ",")
	}
	if out.Bootstrap == "" {
		return out, fmt.Errorf("cluster %s: no bootstrap servers for MirrorMaker 2 (set replication.strimzi.bootstrap.%s)", alias, alias)
	}
	if s := c.SASL; s != nil {
		if s.Password == nil || s.Password.Secret == nil {
			return out, fmt.Errorf("cluster %s: the strimzi engine needs the SASL password as a Kubernetes Secret reference (password: {secret: {name, key}}), which the operator mounts", alias)
		}
		out.Authentication = map[string]any{
			"type":           strings.ToLower(s.Mechanism),
			"username":       username,
			"passwordSecret": map[string]any{"secretName": s.Password.Secret.Name, "password": s.Password.Secret.Key},
		}
	}
	if t := c.TLS; t != nil {
		out.TLS = map[string]any{}
		if t.CA != nil {
			if t.CA.Secret == nil {
				return out, fmt.Errorf("cluster %s: the strimzi engine needs the CA as a Kubernetes Secret reference", alias)
			}
			out.TLS["trustedCertificates"] = []any{map[string]any{"secretName": t.CA.Secret.Name, "certificate": t.CA.Secret.Key}}
		}
		if t.Cert != nil {
			if t.Cert.Secret == nil || t.Key == nil || t.Key.Secret == nil || t.Key.Secret.Name != t.Cert.Secret.Name {
				return out, fmt.Errorf("cluster %s: the strimzi engine needs the client certificate and key as keys of one Kubernetes Secret", alias)
			}
			if out.Authentication != nil {
				return out, fmt.Errorf("cluster %s: SASL and a TLS client certificate together are not supported by the strimzi engine", alias)
			}
			out.Authentication = map[string]any{"type": "tls", "certificateAndKey": map[string]any{
				"secretName": t.Cert.Secret.Name, "certificate": t.Cert.Secret.Key, "key": t.Key.Secret.Key}}
		}
	}
	return out, nil
}

func (c Cluster) section(extra map[string]any) map[string]any {
	m := map[string]any{"alias": c.Alias, "bootstrapServers": c.Bootstrap}
	if c.Authentication != nil {
		m["authentication"] = c.Authentication
	}
	if c.TLS != nil {
		m["tls"] = c.TLS
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Input is everything the resource is made of.
type Input struct {
	APIVersion string // group/version, e.g. kafka.strimzi.io/v1
	Shape      string
	Name       string
	Namespace  string
	Runbook    string
	Origin     Cluster
	Target     Cluster
	Rep        *runbook.Replication
	// LargestRecord is the largest record the origin's topics accept (mm2.Configs).
	LargestRecord int
}

// Resource builds the KafkaMirrorMaker2. MirrorMaker 2 keeps its offset syncs on the target
// (where Ferry reads them), with offset.lag.max 0 unless the runbook says otherwise, so
// groups.translate is exact; group offsets are written by Ferry's groups.translate, not by
// the checkpoint connector; ACLs by acls.sync.
func Resource(in Input) *unstructured.Unstructured {
	rep, st := in.Rep, in.Rep.Strimzi
	source, checkpoint := mm2.Configs(rep, in.LargestRecord)
	rf := -1
	if rep.MM2 != nil && rep.MM2.ReplicationFactor != 0 {
		rf = rep.MM2.ReplicationFactor
	}
	mirror := map[string]any{
		"sourceConnector":     map[string]any{"config": source},
		"checkpointConnector": map[string]any{"config": checkpoint},
		"topicsPattern":       mm2.Pattern(rep.Topics.Include, true),
		"groupsPattern":       mm2.Pattern(rep.Groups.Include, true),
	}
	if len(rep.Topics.Exclude) > 0 {
		mirror["topicsExcludePattern"] = mm2.Pattern(rep.Topics.Exclude, false)
	}
	if len(rep.Groups.Exclude) > 0 {
		mirror["groupsExcludePattern"] = mm2.Pattern(rep.Groups.Exclude, false)
	}
	group := rep.ConnectGroup(in.Runbook)
	connect := map[string]any{
		"config.storage.replication.factor": rf,
		"offset.storage.replication.factor": rf,
		"status.storage.replication.factor": rf,
	}
	replicas := st.Replicas
	if replicas == 0 {
		replicas = 1
	}
	spec := map[string]any{"replicas": replicas}
	if st.Version != "" {
		spec["version"] = st.Version
	}
	if st.Template != nil {
		spec["template"] = st.Template
	}
	if in.Shape == ShapeTarget {
		spec["target"] = in.Target.section(map[string]any{
			"groupId": group, "configStorageTopic": group + "-configs",
			"offsetStorageTopic": group + "-offsets", "statusStorageTopic": group + "-status",
			"config": connect,
		})
		mirror["source"] = in.Origin.section(nil)
	} else {
		connect["group.id"] = group
		connect["config.storage.topic"] = group + "-configs"
		connect["offset.storage.topic"] = group + "-offsets"
		connect["status.storage.topic"] = group + "-status"
		spec["connectCluster"] = in.Target.Alias
		spec["clusters"] = []any{in.Origin.section(nil), in.Target.section(map[string]any{"config": connect})}
		mirror["sourceCluster"] = in.Origin.Alias
		mirror["targetCluster"] = in.Target.Alias
		mirror["heartbeatConnector"] = map[string]any{"config": map[string]any{"heartbeats.topic.replication.factor": rf,
			"emit.heartbeats.interval.seconds": mm2.Seconds(rep.HeartbeatInterval, 1)}}
	}
	spec["mirrors"] = []any{mirror}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": in.APIVersion,
		"kind":       Kind,
		"metadata": map[string]any{
			"name": in.Name, "namespace": in.Namespace,
			"labels": map[string]any{"app.kubernetes.io/managed-by": "ferry", "ferry.dev/runbook": in.Runbook},
		},
		"spec": spec,
	}}
	return normalize(u)
}

// normalize turns ints into int64, as the unstructured helpers expect.
func normalize(u *unstructured.Unstructured) *unstructured.Unstructured {
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case int:
			return int64(x)
		}
		return v
	}
	walk(u.Object)
	return u
}

// Connectors are the connectors a resource of this shape runs.
func Connectors(shape string) []string {
	if shape == ShapeTarget {
		return []string{mm2.Source, mm2.Checkpoint}
	}
	return []string{mm2.Source, mm2.Checkpoint, mm2.Heartbeat}
}

// Judge reads a KafkaMirrorMaker2's status. Ready needs the operator to have observed the
// latest generation and every expected connector and each of its tasks RUNNING — the Ready
// condition alone is not enough, since the operator sets it once Connect is up, before (or
// regardless of whether) the connectors run.
func Judge(u *unstructured.Unstructured, shape string) mm2.Health {
	og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if og < u.GetGeneration() {
		return mm2.Health{Message: fmt.Sprintf("the operator has not seen generation %d yet", u.GetGeneration())}
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" && m["status"] != "True" {
			return mm2.Health{Message: fmt.Sprintf("not Ready: %v %v", m["reason"], m["message"])}
		}
	}
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "connectors")
	var statuses []mm2.Status
	b, _ := json.Marshal(list)
	if err := json.Unmarshal(b, &statuses); err != nil {
		return mm2.Health{Message: "unreadable connector status: " + err.Error()}
	}
	return mm2.Judge(statuses, Connectors(shape))
}
