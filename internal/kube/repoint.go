package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/ferryhq/ferry/runbook"
)

// Annotations Ferry writes on repointed workloads.
const (
	// repointNote records, on the workload, what it used before a step repointed it.
	repointNote = "ferry.dev/repoint"
	// ClusterAnnotation on the pod template names the cluster the app uses. Changing it
	// restarts the pods, which is how a changed ConfigMap reaches them.
	ClusterAnnotation = "ferry.dev/cluster"
)

// ConnectionUndo is what an app used before a repoint: enough to put it back exactly.
type ConnectionUndo struct {
	// Env is the connection variable's value per container; nil when it was not set.
	Env map[string]*string `json:"env,omitempty"`
	// ConfigMap is the ConfigMap key's value; nil when the key was absent.
	ConfigMap *string `json:"configMap,omitempty"`
	// SecretEnv is the Secret each container/VARIABLE read.
	SecretEnv map[string]string `json:"secretEnv,omitempty"`
	// Cluster is the pod template's ferry.dev/cluster annotation.
	Cluster string `json:"cluster,omitempty"`
	// TopicsEnv is the topics variable's value per container; nil when it was not set.
	TopicsEnv map[string]*string `json:"topicsEnv,omitempty"`
	// TopicsConfigMap is the topics ConfigMap key's value; nil when the key was absent.
	TopicsConfigMap *string `json:"topicsConfigMap,omitempty"`
}

// Previous says what the workload used before, for people: its cluster annotation, else the
// connection variable of its first container that set one, else the ConfigMap key.
func (u ConnectionUndo) Previous() string {
	if u.Cluster != "" {
		return u.Cluster
	}
	for _, c := range sortStrings(slices.Collect(maps.Keys(u.Env))) {
		if v := u.Env[c]; v != nil {
			return *v
		}
	}
	if u.ConfigMap != nil {
		return *u.ConfigMap
	}
	return ""
}

// ConnectionTarget is where a repoint moves an app.
type ConnectionTarget struct {
	Cluster   string // runbook cluster name, written to the pod template annotation
	Bootstrap string // written to connection.env and connection.configMap
	Secret    string // connection.secretEnv variables read this Secret from now on
	// Secrets names the Secret of single variables (KAFKA_CA: the cluster's CA Secret), over
	// Secret.
	Secrets map[string]string
	// Topics renames the topics the app names (connection.topicsEnv and topicsConfigMap);
	// nil leaves them.
	Topics func(string) string
}

// secretOf is the Secret a container's variable (container/VARIABLE) reads after the repoint.
func (to ConnectionTarget) secretOf(key string) string {
	_, name, _ := strings.Cut(key, "/")
	if s := to.Secrets[name]; s != "" {
		return s
	}
	return to.Secret
}

// Repoint moves a workload's Kafka connection and returns what it used before. What it used
// is recorded on the workload (annotation ferry.dev/repoint) before anything changes, so a
// retry of the same step returns the original values, not the ones it wrote itself. The
// ConfigMap changes before the pod template, so restarted pods read the new value.
func (c *Client) Repoint(ctx context.Context, w Workload, conn *runbook.AppConnection, to ConnectionTarget, run, step string) (ConnectionUndo, error) {
	if conn == nil {
		return ConnectionUndo{}, fmt.Errorf("%s: the app has no connection: section, so Ferry does not know where it reads its Kafka connection", w)
	}
	if to.Bootstrap != "" && to.Secret == "" {
		for _, name := range conn.SecretEnv {
			if to.Secrets[name] == "" {
				return ConnectionUndo{}, fmt.Errorf("%s: connection.secretEnv names %s: name the new cluster's Secret in apps.repoint's secret (or secrets.%s)", w, name, name)
			}
		}
	}
	o, err := c.template(ctx, w)
	if err != nil {
		return ConnectionUndo{}, err
	}
	var note stepNote
	var undo ConnectionUndo
	if json.Unmarshal([]byte(o.meta.Annotations[repointNote]), &note) == nil && note.Run == run && note.Step == step && note.Undo != nil {
		undo = *note.Undo
	} else {
		if undo, err = c.readConnection(ctx, w, o, conn); err != nil {
			return ConnectionUndo{}, err
		}
		b, _ := json.Marshal(stepNote{Run: run, Step: step, Undo: &undo})
		if err := c.annotate(ctx, w, repointNote, string(b)); err != nil {
			return ConnectionUndo{}, err
		}
	}
	bootstrap := to.Bootstrap
	topics := func(was *string) *string {
		if was == nil || to.Topics == nil {
			return was
		}
		v := runbook.RenameTopicList(*was, to.Topics)
		return &v
	}
	v := connectionValues{
		env:             func(string) *string { return &bootstrap },
		configMap:       &bootstrap,
		secret:          to.secretOf,
		cluster:         to.Cluster,
		topicsEnv:       func(ct string) *string { return topics(undo.TopicsEnv[ct]) },
		topicsConfigMap: topics(undo.TopicsConfigMap),
	}
	if bootstrap == "" { // topics only: the cluster stays
		v.env, v.configMap, v.cluster = func(ct string) *string { return undo.Env[ct] }, undo.ConfigMap, undo.Cluster
		v.secret = func(key string) string { return undo.SecretEnv[key] }
	}
	return undo, c.setConnection(ctx, w, conn, v)
}

// RestoreConnection puts back what a workload used before a repoint.
func (c *Client) RestoreConnection(ctx context.Context, w Workload, conn *runbook.AppConnection, undo ConnectionUndo) error {
	if conn == nil {
		return fmt.Errorf("%s: the app has no connection: section", w)
	}
	return c.setConnection(ctx, w, conn, connectionValues{
		env:             func(ct string) *string { return undo.Env[ct] },
		configMap:       undo.ConfigMap,
		secret:          func(key string) string { return undo.SecretEnv[key] },
		cluster:         undo.Cluster,
		topicsEnv:       func(ct string) *string { return undo.TopicsEnv[ct] },
		topicsConfigMap: undo.TopicsConfigMap,
	})
}

type connectionValues struct {
	env             func(container string) *string
	configMap       *string
	secret          func(containerVar string) string
	cluster         string
	topicsEnv       func(container string) *string
	topicsConfigMap *string
}

// containers are the indexes of the containers a connection changes: the named ones, or
// every container that sets one of its variables.
func containers(w Workload, spec *corev1.PodSpec, conn *runbook.AppConnection) ([]int, error) {
	var out []int
	for _, name := range conn.Containers {
		i := slices.IndexFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("%s has no container %q (containers: %s)", w, name, joinNames(spec.Containers))
		}
		out = append(out, i)
	}
	if len(conn.Containers) > 0 {
		return out, nil
	}
	for i, ct := range spec.Containers {
		if slices.ContainsFunc(ct.Env, func(e corev1.EnvVar) bool {
			return (conn.Env != "" && e.Name == conn.Env) || (conn.TopicsEnv != "" && e.Name == conn.TopicsEnv) || slices.Contains(conn.SecretEnv, e.Name)
		}) {
			out = append(out, i)
		}
	}
	if len(out) == 0 && (conn.Env != "" || conn.TopicsEnv != "" || len(conn.SecretEnv) > 0) {
		return nil, fmt.Errorf("no container of %s sets %s (containers: %s); name them in connection.containers",
			w, joinVars(conn), joinNames(spec.Containers))
	}
	return out, nil
}

func joinVars(conn *runbook.AppConnection) string {
	vars := slices.Clone(conn.SecretEnv)
	if conn.TopicsEnv != "" {
		vars = append([]string{conn.TopicsEnv}, vars...)
	}
	if conn.Env != "" {
		vars = append([]string{conn.Env}, vars...)
	}
	return fmt.Sprint(vars)
}

// readConnection reads what a workload uses now.
func (c *Client) readConnection(ctx context.Context, w Workload, o *workloadObject, conn *runbook.AppConnection) (ConnectionUndo, error) {
	undo := ConnectionUndo{Cluster: o.template.Annotations[ClusterAnnotation]}
	idx, err := containers(w, &o.template.Spec, conn)
	if err != nil {
		return undo, err
	}
	for _, i := range idx {
		ct := o.template.Spec.Containers[i]
		if undo.Env, err = literalEnv(w, ct, conn.Env, "configMap", undo.Env); err != nil {
			return undo, err
		}
		if undo.TopicsEnv, err = literalEnv(w, ct, conn.TopicsEnv, "topicsConfigMap", undo.TopicsEnv); err != nil {
			return undo, err
		}
		for _, name := range conn.SecretEnv {
			j := slices.IndexFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == name })
			if j < 0 || ct.Env[j].ValueFrom == nil || ct.Env[j].ValueFrom.SecretKeyRef == nil {
				return undo, fmt.Errorf("%s: container %s does not read %s from a Secret (secretKeyRef)", w, ct.Name, name)
			}
			if undo.SecretEnv == nil {
				undo.SecretEnv = map[string]string{}
			}
			undo.SecretEnv[ct.Name+"/"+name] = ct.Env[j].ValueFrom.SecretKeyRef.Name
		}
	}
	if undo.ConfigMap, err = c.readConfigMapKey(ctx, w, conn.ConfigMap); err != nil {
		return undo, err
	}
	undo.TopicsConfigMap, err = c.readConfigMapKey(ctx, w, conn.TopicsConfigMap)
	return undo, err
}

// literalEnv records, in vals by container, the literal value of variable name (nil when
// unset); name "" records nothing.
func literalEnv(w Workload, ct corev1.Container, name, instead string, vals map[string]*string) (map[string]*string, error) {
	if name == "" {
		return vals, nil
	}
	if vals == nil {
		vals = map[string]*string{}
	}
	vals[ct.Name] = nil
	if j := slices.IndexFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == name }); j >= 0 {
		if ct.Env[j].ValueFrom != nil {
			return vals, fmt.Errorf("%s: container %s reads %s from valueFrom; Ferry changes literal values (use connection.%s for a ConfigMap key)", w, ct.Name, name, instead)
		}
		v := ct.Env[j].Value
		vals[ct.Name] = &v
	}
	return vals, nil
}

// readConfigMapKey reads a ConfigMap key's value: nil when the key is absent, or cm is nil.
func (c *Client) readConfigMapKey(ctx context.Context, w Workload, cm *runbook.ConfigMapKey) (*string, error) {
	if cm == nil {
		return nil, nil
	}
	m, err := c.Core.CoreV1().ConfigMaps(w.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		return nil, explain(err, "%s: read ConfigMap %s", w, cm.Name)
	}
	if v, ok := m.Data[cm.Key]; ok {
		return &v, nil
	}
	return nil, nil
}

// setConnection writes connection values: the ConfigMap first, then the pod template in one
// update (which starts the rollout).
func (c *Client) setConnection(ctx context.Context, w Workload, conn *runbook.AppConnection, v connectionValues) error {
	if err := c.setConfigMapKey(ctx, w, conn.ConfigMap, v.configMap); err != nil {
		return err
	}
	if err := c.setConfigMapKey(ctx, w, conn.TopicsConfigMap, v.topicsConfigMap); err != nil {
		return err
	}
	return c.updateWorkload(ctx, w, func(o *workloadObject) error {
		idx, err := containers(w, &o.template.Spec, conn)
		if err != nil {
			return err
		}
		for _, i := range idx {
			ct := &o.template.Spec.Containers[i]
			if conn.Env != "" {
				ct.Env = setEnv(ct.Env, conn.Env, v.env(ct.Name))
			}
			if conn.TopicsEnv != "" {
				ct.Env = setEnv(ct.Env, conn.TopicsEnv, v.topicsEnv(ct.Name))
			}
			for _, name := range conn.SecretEnv {
				secret := v.secret(ct.Name + "/" + name)
				for j := range ct.Env {
					if e := &ct.Env[j]; e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && secret != "" {
						e.ValueFrom.SecretKeyRef.Name = secret
					}
				}
			}
		}
		if o.template.Annotations == nil {
			o.template.Annotations = map[string]string{}
		}
		if v.cluster == "" {
			delete(o.template.Annotations, ClusterAnnotation)
		} else {
			o.template.Annotations[ClusterAnnotation] = v.cluster
		}
		return nil
	})
}

// setConfigMapKey sets (value != nil) or removes a ConfigMap key; cm nil changes nothing.
func (c *Client) setConfigMapKey(ctx context.Context, w Workload, cm *runbook.ConfigMapKey, value *string) error {
	if cm == nil {
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		m, err := c.Core.CoreV1().ConfigMaps(w.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		old, had := m.Data[cm.Key]
		switch {
		case value == nil && !had, value != nil && had && old == *value:
			return nil
		case value == nil:
			delete(m.Data, cm.Key)
		default:
			if m.Data == nil {
				m.Data = map[string]string{}
			}
			m.Data[cm.Key] = *value
		}
		_, err = c.Core.CoreV1().ConfigMaps(w.Namespace).Update(ctx, m, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	return explain(err, "%s: update ConfigMap %s", w, cm.Name)
}

// setEnv sets (value != nil) or removes a literal variable.
func setEnv(env []corev1.EnvVar, name string, value *string) []corev1.EnvVar {
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
	switch {
	case value == nil && i >= 0:
		return slices.Delete(env, i, i+1)
	case value == nil:
		return env
	case i >= 0:
		env[i] = corev1.EnvVar{Name: name, Value: *value}
		return env
	}
	return append(env, corev1.EnvVar{Name: name, Value: *value})
}
