package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferryhq/ferry/internal/connect"
	"github.com/ferryhq/ferry/internal/kube"
)

// UserOperator stands in for Strimzi's (or Event Streams') User Operator of one Kafka
// cluster: each KafkaUser labelled <group>/cluster=<cluster> in its namespace becomes a real
// SCRAM-SHA-512 user on the Kafka cluster with the ACLs its spec.authorization lists, and a
// Secret named after it in the operator's format (password and sasl.jaas.config); its status
// then says Ready. A deleted KafkaUser loses its SCRAM credentials, its ACLs and its Secret
// (which Kubernetes' garbage collector deletes in a real cluster, through its owner
// reference). It also writes the cluster's CA Secret, <cluster>-cluster-ca-cert (ca.crt), as
// the cluster operator does.
type UserOperator struct {
	c                         *kube.Client
	group, namespace, cluster string
	admin                     *kadm.Client
	loop
	users map[string]bool // realized KafkaUsers, by name
}

// StartUserOperator starts the stand-in. admin is a super user's connection to the cluster;
// caFile the PEM CA that signed the cluster's listener certificate.
func StartUserOperator(c *kube.Client, group, namespace, cluster string, admin *kadm.Client, caFile string) (*UserOperator, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	_, err = c.Core.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: cluster + "-cluster-ca-cert", Labels: map[string]string{group + "/cluster": cluster, group + "/kind": "Kafka"}},
		Data:       map[string][]byte{"ca.crt": ca},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	o := &UserOperator{c: c, group: group, namespace: namespace, cluster: cluster, admin: admin, users: map[string]bool{}}
	o.start(200*time.Millisecond, o.sync)
	return o, nil
}

func (o *UserOperator) resource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: o.group, Version: "v1beta2", Resource: "kafkausers"}
}

func (o *UserOperator) sync(ctx context.Context) error {
	list, err := o.c.Dynamic.Resource(o.resource()).Namespace(o.namespace).List(ctx, metav1.ListOptions{LabelSelector: o.group + "/cluster=" + o.cluster})
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for i := range list.Items {
		u := &list.Items[i]
		present[u.GetName()] = true
		if og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); og == u.GetGeneration() && o.users[u.GetName()] {
			continue
		}
		if err := o.realize(ctx, u); err != nil {
			return fmt.Errorf("KafkaUser %s: %w", u.GetName(), err)
		}
		o.users[u.GetName()] = true
	}
	for name := range o.users {
		if !present[name] {
			if err := o.remove(ctx, name); err != nil {
				return fmt.Errorf("deleted KafkaUser %s: %w", name, err)
			}
			delete(o.users, name)
		}
	}
	return nil
}

// realize makes the user, its ACLs and its Secret match the KafkaUser. The password stays
// the one in the Secret once there is one, as the operator keeps it.
func (o *UserOperator) realize(ctx context.Context, u *unstructured.Unstructured) error {
	name := u.GetName()
	if t, _, _ := unstructured.NestedString(u.Object, "spec", "authentication", "type"); t != "scram-sha-512" {
		return fmt.Errorf("the stand-in knows only authentication type scram-sha-512, not %q", t)
	}
	secrets := o.c.Core.CoreV1().Secrets(o.namespace)
	password := ""
	if s, err := secrets.Get(ctx, name, metav1.GetOptions{}); err == nil {
		password = string(s.Data["password"])
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	if password == "" {
		b := make([]byte, 9)
		_, _ = rand.Read(b)
		password = base64.RawURLEncoding.EncodeToString(b)
	}
	res, err := o.admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: name, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("create SCRAM credentials: %w", err)
	}
	if err := o.setACLs(ctx, u); err != nil {
		return err
	}
	owner := metav1.OwnerReference{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: name, UID: u.GetUID()}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.namespace, OwnerReferences: []metav1.OwnerReference{owner},
			Labels: map[string]string{o.group + "/cluster": o.cluster, o.group + "/kind": "KafkaUser", "app.kubernetes.io/instance": name}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			"password":         []byte(password),
			"sasl.jaas.config": fmt.Appendf(nil, `org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`, name, password),
		},
	}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	u.Object["status"] = map[string]any{
		"observedGeneration": u.GetGeneration(), "username": name, "secret": name,
		"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
	}
	_, err = o.c.Dynamic.Resource(o.resource()).Namespace(o.namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	return err
}

// setACLs replaces the user's ACLs with those of spec.authorization (type simple); without
// authorization the user's ACLs are left alone, as the operator does.
func (o *UserOperator) setACLs(ctx context.Context, u *unstructured.Unstructured) error {
	acls, found, _ := unstructured.NestedSlice(u.Object, "spec", "authorization", "acls")
	if !found {
		return nil
	}
	principal := "User:" + u.GetName()
	if err := o.deleteACLs(ctx, principal); err != nil {
		return err
	}
	for _, a := range acls {
		m, _ := a.(map[string]any)
		b, err := aclOf(principal, m)
		if err != nil {
			return err
		}
		res, err := o.admin.CreateACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			return fmt.Errorf("create ACL %v: %w", m, err)
		}
	}
	return nil
}

// aclOf reads one entry of spec.authorization.acls.
func aclOf(principal string, m map[string]any) (*kadm.ACLBuilder, error) {
	r, _ := m["resource"].(map[string]any)
	name, _ := r["name"].(string)
	pattern := kadm.ACLPatternLiteral
	if p, _ := r["patternType"].(string); p == "prefix" {
		pattern = kadm.ACLPatternPrefixed
	}
	var ops []kadm.ACLOperation
	var names []string
	if op, ok := m["operation"].(string); ok {
		names = append(names, op)
	}
	if list, ok := m["operations"].([]any); ok {
		for _, op := range list {
			names = append(names, fmt.Sprint(op))
		}
	}
	for _, n := range names {
		op, err := kmsg.ParseACLOperation(n)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	host, _ := m["host"].(string)
	if host == "" {
		host = "*"
	}
	b := kadm.NewACLs().Allow(principal).AllowHosts(host).Operations(ops...).ResourcePatternType(pattern)
	switch r["type"] {
	case "topic":
		b.Topics(name)
	case "group":
		b.Groups(name)
	case "cluster":
		b.Clusters()
	case "transactionalId":
		b.TransactionalIDs(name)
	default:
		return nil, fmt.Errorf("ACL resource type %v", r["type"])
	}
	return b, nil
}

func (o *UserOperator) deleteACLs(ctx context.Context, principal string) error {
	_, err := o.admin.DeleteACLs(ctx, kadm.NewACLs().Allow(principal).AllowHosts().Deny(principal).DenyHosts().
		AnyResource().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	return err
}

func (o *UserOperator) remove(ctx context.Context, name string) error {
	res, err := o.admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: name, Mechanism: kadm.ScramSha512}}, nil)
	if err == nil {
		err = res.Error()
	}
	if err != nil && !strings.Contains(err.Error(), "RESOURCE_NOT_FOUND") {
		return fmt.Errorf("delete SCRAM credentials: %w", err)
	}
	if err := o.deleteACLs(ctx, "User:"+name); err != nil {
		return err
	}
	err = o.c.Core.CoreV1().Secrets(o.namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// MirrorMakerOperator stands in for the cluster operator's KafkaMirrorMaker2 part: each
// KafkaMirrorMaker2 (the clusters shape, group <group>/v1beta2) in its namespace becomes
// MirrorMaker 2 connectors on a real Kafka Connect worker — the connector configs the operator
// writes: the mirror's own config, each side's connection (bootstrap, SASL with the password
// from the named Secret, the trusted certificates as PEM), topics and groups patterns — and
// the status the operator writes (observed generation, Ready, each connector's state and
// tasks). A deleted resource's connectors are deleted. The Connect worker itself stands for the
// resource's Connect cluster (it stores its own state on the target cluster).
type MirrorMakerOperator struct {
	c                *kube.Client
	group, namespace string
	connect          *connect.Client
	loop
	applied map[string][]string // connectors run, by resource name
}

// StartMirrorMakerOperator starts the stand-in.
func StartMirrorMakerOperator(c *kube.Client, group, namespace, connectURL string) *MirrorMakerOperator {
	o := &MirrorMakerOperator{c: c, group: group, namespace: namespace, connect: connect.New(connectURL, "", ""), applied: map[string][]string{}}
	o.start(200*time.Millisecond, o.sync)
	return o
}

func (o *MirrorMakerOperator) resource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: o.group, Version: "v1beta2", Resource: "kafkamirrormaker2s"}
}

func (o *MirrorMakerOperator) sync(ctx context.Context) error {
	list, err := o.c.Dynamic.Resource(o.resource()).Namespace(o.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for i := range list.Items {
		u := &list.Items[i]
		present[u.GetName()] = true
		og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		if og != u.GetGeneration() || o.applied[u.GetName()] == nil {
			names, err := o.realize(ctx, u)
			if err != nil {
				return fmt.Errorf("KafkaMirrorMaker2 %s: %w", u.GetName(), err)
			}
			o.applied[u.GetName()] = names
		}
		if err := o.writeStatus(ctx, u); err != nil {
			return err
		}
	}
	for name, connectors := range o.applied {
		if present[name] {
			continue
		}
		for _, c := range connectors {
			if err := o.connect.Delete(ctx, c); err != nil {
				return err
			}
		}
		delete(o.applied, name)
	}
	return nil
}

// realize puts the resource's connectors on the Connect worker.
func (o *MirrorMakerOperator) realize(ctx context.Context, u *unstructured.Unstructured) ([]string, error) {
	clusters := map[string]map[string]any{}
	list, _, _ := unstructured.NestedSlice(u.Object, "spec", "clusters")
	for _, c := range list {
		m, _ := c.(map[string]any)
		alias, _ := m["alias"].(string)
		clusters[alias] = m
	}
	mirrors, _, _ := unstructured.NestedSlice(u.Object, "spec", "mirrors")
	var names []string
	for _, mi := range mirrors {
		m, _ := mi.(map[string]any)
		src, _ := m["sourceCluster"].(string)
		dst, _ := m["targetCluster"].(string)
		base := map[string]string{"source.cluster.alias": src, "target.cluster.alias": dst}
		for prefix, alias := range map[string]string{"source.cluster.": src, "target.cluster.": dst} {
			c := clusters[alias]
			if c == nil {
				return nil, fmt.Errorf("mirror names cluster %q, which spec.clusters does not have", alias)
			}
			conn, err := o.connection(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("cluster %s: %w", alias, err)
			}
			for k, v := range conn {
				base[prefix+k] = v
			}
		}
		for class, section := range map[string]string{"MirrorSourceConnector": "sourceConnector", "MirrorCheckpointConnector": "checkpointConnector", "MirrorHeartbeatConnector": "heartbeatConnector"} {
			spec, ok := m[section].(map[string]any)
			if !ok {
				continue
			}
			// The operator runs MirrorMaker 2's Connect with byte-array converters for keys,
			// values and headers (records pass through unchanged); the shared worker gets them
			// per connector.
			cfg := map[string]string{"connector.class": "org.apache.kafka.connect.mirror." + class,
				"key.converter": byteArray, "value.converter": byteArray, "header.converter": byteArray}
			for k, v := range base {
				cfg[k] = v
			}
			if p, ok := m["topicsPattern"].(string); ok {
				cfg["topics"] = p
			}
			if p, ok := m["topicsExcludePattern"].(string); ok {
				cfg["topics.exclude"] = p
			}
			if p, ok := m["groupsPattern"].(string); ok {
				cfg["groups"] = p
			}
			if p, ok := m["groupsExcludePattern"].(string); ok {
				cfg["groups.exclude"] = p
			}
			extra, _ := spec["config"].(map[string]any)
			for k, v := range extra {
				cfg[k] = fmt.Sprint(v)
			}
			name := src + "->" + dst + "." + class
			if err := o.connect.Put(ctx, name, cfg); err != nil {
				return nil, err
			}
			names = append(names, name)
		}
	}
	return names, nil
}

const byteArray = "org.apache.kafka.connect.converters.ByteArrayConverter"

// connection is how MirrorMaker 2 reaches one of spec.clusters, as client properties.
func (o *MirrorMakerOperator) connection(ctx context.Context, c map[string]any) (map[string]string, error) {
	out := map[string]string{"bootstrap.servers": fmt.Sprint(c["bootstrapServers"])}
	protocol := "PLAINTEXT"
	if tls, ok := c["tls"].(map[string]any); ok {
		protocol = "SSL"
		var pem []string
		certs, _ := tls["trustedCertificates"].([]any)
		for _, tc := range certs {
			m, _ := tc.(map[string]any)
			v, err := o.c.SecretValue(ctx, o.namespace, fmt.Sprint(m["secretName"]), fmt.Sprint(m["certificate"]))
			if err != nil {
				return nil, err
			}
			pem = append(pem, v)
		}
		if len(pem) > 0 {
			out["ssl.truststore.type"] = "PEM"
			out["ssl.truststore.certificates"] = strings.Join(pem, "\n")
		}
	}
	if auth, ok := c["authentication"].(map[string]any); ok {
		if auth["type"] != "scram-sha-512" {
			return nil, fmt.Errorf("the stand-in knows only authentication type scram-sha-512, not %v", auth["type"])
		}
		ps, _ := auth["passwordSecret"].(map[string]any)
		password, err := o.c.SecretValue(ctx, o.namespace, fmt.Sprint(ps["secretName"]), fmt.Sprint(ps["password"]))
		if err != nil {
			return nil, err
		}
		protocol = "SASL_" + protocol
		out["sasl.mechanism"] = "SCRAM-SHA-512"
		out["sasl.jaas.config"] = fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%v" password="%s";`, auth["username"], password)
	}
	out["security.protocol"] = protocol
	return out, nil
}

// writeStatus writes what the operator reports: each connector's state from Connect.
func (o *MirrorMakerOperator) writeStatus(ctx context.Context, u *unstructured.Unstructured) error {
	var connectors []any
	for _, name := range o.applied[u.GetName()] {
		s, found, err := o.connect.Status(ctx, name)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		tasks := make([]any, len(s.Tasks))
		for i, t := range s.Tasks {
			tasks[i] = map[string]any{"id": int64(t.ID), "state": t.State}
		}
		connectors = append(connectors, map[string]any{"name": name, "connector": map[string]any{"state": s.Connector.State}, "tasks": tasks, "type": "source"})
	}
	u.Object["status"] = map[string]any{
		"observedGeneration": u.GetGeneration(),
		"conditions":         []any{map[string]any{"type": "Ready", "status": "True"}},
		"connectors":         connectors,
		"replicas":           int64(1),
	}
	_, err := o.c.Dynamic.Resource(o.resource()).Namespace(o.namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // changed or deleted meanwhile: the next round sees it
	}
	return err
}

// loop runs a stand-in's reconcile until Stop, keeping the errors it met. A conflict is not
// one: someone (Ferry) changed the object meanwhile, and the next round sees the change.
type loop struct {
	mu     sync.Mutex
	errs   []error
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *loop) start(every time.Duration, sync func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			if err := sync(ctx); err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) {
				l.mu.Lock()
				if len(l.errs) < 100 {
					l.errs = append(l.errs, err)
				}
				l.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}()
}

// Stop ends the loop.
func (l *loop) Stop() {
	l.cancel()
	<-l.done
}

// Errors are the problems the stand-in met.
func (l *loop) Errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}
