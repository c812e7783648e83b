package kubetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/internal/sandbox"
)

// Environment variables the stand-in kubelet reads from a workload's first container.
const (
	EnvApp       = "FERRY_TEST_APP" // producer or consumer
	EnvTopic     = "TOPIC"
	EnvGroup     = "GROUP"
	EnvBootstrap = "KAFKA_BOOTSTRAP_SERVERS" // a value, or valueFrom a ConfigMap key
	// With EnvUser set, the app logs in with SCRAM-SHA-512 over TLS: EnvPassword and EnvCA
	// (PEM) are read from Secrets (secretKeyRef), as pods read them.
	EnvUser     = "KAFKA_USERNAME"
	EnvPassword = "KAFKA_PASSWORD"
	EnvCA       = "KAFKA_CA"
)

// Kubelet stands in for the kubelet and the workload controllers: for every Deployment and
// StatefulSet in a namespace it runs one in-process sandbox producer or consumer while
// replicas > 0 (none without FERRY_TEST_APP), pointed at the bootstrap servers and topic its pod template names, restarts it when
// the template changes, and then writes the status a controller would (observed generation,
// updated, ready and available replicas). Scaling and repointing thus change real Kafka
// traffic, and Ferry's waits see what they would see in a cluster.
type Kubelet struct {
	c      *kube.Client
	ns     string
	ledger *sandbox.Ledger
	// Delay holds a changed workload this long before its status says so (a slow rollout).
	Delay time.Duration

	mu   sync.Mutex
	pods map[string]*pod
	// Producers are the producers run so far, by workload name.
	Producers map[string]*sandbox.Producer

	loop // its reconcile every 50 ms; Errors are the problems it met (bad templates, Kafka)
}

type pod struct {
	app   sandbox.App
	gen   int64
	login string // the credentials it was made with
}

// StartKubelet starts the stand-in for one namespace.
func StartKubelet(c *kube.Client, namespace string, ledger *sandbox.Ledger) *Kubelet {
	k := &Kubelet{c: c, ns: namespace, ledger: ledger, pods: map[string]*pod{}, Producers: map[string]*sandbox.Producer{}}
	k.start(50*time.Millisecond, k.sync)
	return k
}

// Stop stops every app (producers flush, consumers commit) and the loop.
func (k *Kubelet) Stop() {
	k.loop.Stop()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pods {
		_, _ = p.app.Scale(context.Background(), 0)
	}
}

func (k *Kubelet) sync(ctx context.Context) error {
	apps := k.c.Core.AppsV1()
	ds, err := apps.Deployments(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range ds.Items {
		d := &ds.Items[i]
		if d.Status.ObservedGeneration == d.Generation {
			continue
		}
		want := replicas(d.Spec.Replicas)
		if err := k.run(ctx, "Deployment/"+d.Name, d.Generation, &d.Spec.Template, want); err != nil {
			return err
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want, AvailableReplicas: want}
		if _, err := apps.Deployments(k.ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	ss, err := apps.StatefulSets(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range ss.Items {
		s := &ss.Items[i]
		if s.Status.ObservedGeneration == s.Generation {
			continue
		}
		want := replicas(s.Spec.Replicas)
		if err := k.run(ctx, "StatefulSet/"+s.Name, s.Generation, &s.Spec.Template, want); err != nil {
			return err
		}
		rev := fmt.Sprintf("%s-%d", s.Name, s.Generation)
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want,
			AvailableReplicas: want, CurrentReplicas: want, CurrentRevision: rev, UpdateRevision: rev}
		if _, err := apps.StatefulSets(k.ns).UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// run makes one workload's app match its template and replicas.
func (k *Kubelet) run(ctx context.Context, key string, gen int64, tpl *corev1.PodTemplateSpec, want int32) error {
	if len(tpl.Spec.Containers) == 0 {
		return fmt.Errorf("%s: no containers", key)
	}
	env := map[string]string{}
	for _, e := range tpl.Spec.Containers[0].Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := k.c.Core.CoreV1().ConfigMaps(k.ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("%s: env %s: %w", key, e.Name, err)
			}
			v = cm.Data[ref.Key]
		}
		env[e.Name] = v
	}
	for _, e := range tpl.Spec.Containers[0].Env {
		if ref := e.ValueFrom; env[EnvUser] != "" && ref != nil && ref.SecretKeyRef != nil {
			v, err := k.c.SecretValue(ctx, k.ns, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
			if err != nil {
				return fmt.Errorf("%s: env %s: %w", key, e.Name, err)
			}
			env[e.Name] = v
		}
	}
	login := env[EnvUser] + "\x00" + env[EnvPassword] + "\x00" + env[EnvCA]
	opts, err := loginOpts(env)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if k.Delay > 0 {
		time.Sleep(k.Delay)
	}
	if env[EnvApp] == "" {
		return nil // pods without Kafka traffic: only the status changes
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.pods[key]
	if p != nil && p.login != login {
		// New credentials: the pods restart below and log in with them.
		if _, err := p.app.Scale(ctx, 0); err != nil {
			return err
		}
		p.app.(interface{ Login(...kgo.Opt) }).Login(opts...)
		p.login = login
	}
	if p == nil {
		name := tpl.Labels["app"]
		if name == "" {
			name = key
		}
		switch env[EnvApp] {
		case "producer":
			pr := sandbox.NewProducer(name, env[EnvBootstrap], env[EnvTopic], 200, k.ledger, opts...)
			k.Producers[name] = pr
			p = &pod{app: pr, login: login}
		case "consumer":
			p = &pod{app: sandbox.NewConsumer(name, env[EnvBootstrap], env[EnvGroup], env[EnvTopic], k.ledger, opts...), login: login}
		default:
			return fmt.Errorf("%s: %s must be producer, consumer or unset", key, EnvApp)
		}
		k.pods[key] = p
	}
	// A new template replaces the pods: stop, repoint, start (as a Recreate rollout does).
	if _, err := p.app.Scale(ctx, 0); err != nil {
		return err
	}
	if now := p.app.Status(); env[EnvBootstrap] != now.Bootstrap || env[EnvTopic] != now.Topic {
		if _, err := p.app.Repoint(ctx, sandbox.Connection{Bootstrap: env[EnvBootstrap], Topic: env[EnvTopic]}); err != nil {
			return err
		}
	}
	if want > 0 {
		if _, err := p.app.Scale(ctx, 1); err != nil {
			return err
		}
	}
	p.gen = gen
	return nil
}

// Bootstrap is where the app of a workload (Deployment/NAME) points now.
func (k *Kubelet) Bootstrap(key string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p := k.pods[key]; p != nil {
		return p.app.Status().Bootstrap
	}
	return ""
}

// Topic is the topic the app of a workload (Deployment/NAME) writes or reads now.
func (k *Kubelet) Topic(key string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p := k.pods[key]; p != nil {
		return p.app.Status().Topic
	}
	return ""
}

// Running reports whether the app of a workload runs.
func (k *Kubelet) Running(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.pods[key]
	return p != nil && p.app.Status().Replicas > 0
}

// loginOpts are the client options of an app that logs in (EnvUser set).
func loginOpts(env map[string]string) ([]kgo.Opt, error) {
	if env[EnvUser] == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(env[EnvCA])) {
		return nil, fmt.Errorf("%s holds no PEM certificate", EnvCA)
	}
	return []kgo.Opt{
		kgo.SASL(scram.Auth{User: env[EnvUser], Pass: env[EnvPassword]}.AsSha512Mechanism()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
	}, nil
}
