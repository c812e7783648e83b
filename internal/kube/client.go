// Package kube is Ferry's Kubernetes side: connections by kubeconfig context (or in-cluster),
// the apps a runbook names (Deployments and StatefulSets), scaling through the scale
// subresource, repointing an app's Kafka connection, rollout checks, server-side apply, waits
// on conditions, and Secret copies. Errors carry the API server's reason; an RBAC denial names
// the verb and resource that are missing.
package kube

import (
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// FieldManager is the field manager of everything Ferry applies or changes.
const FieldManager = "ferry"

// Client talks to one Kubernetes cluster as one kubeconfig context.
type Client struct {
	// Context is the kubeconfig context ("" for the current one or in-cluster).
	Context string
	// Namespace is the context's namespace, used when a runbook names none.
	Namespace string
	Config    *rest.Config
	Core      kubernetes.Interface
	Dynamic   dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
}

var (
	clientsMu sync.Mutex
	clients   = map[string]*Client{}
)

// Connect returns the client of a kubeconfig context; "" is the current context, or the
// in-cluster service account when there is no kubeconfig (KUBECONFIG, ~/.kube/config).
// Clients are kept for the life of the process.
func Connect(contextName string) (*Client, error) {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clients[contextName]; ok {
		return c, nil
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(),
		&clientcmd.ConfigOverrides{CurrentContext: contextName})
	cfg, err := loader.ClientConfig()
	if err != nil {
		if contextName == "" {
			return nil, fmt.Errorf("kubernetes: no kubeconfig (KUBECONFIG or ~/.kube/config) and not running in a cluster: %w", err)
		}
		return nil, fmt.Errorf("kubernetes context %q: %w", contextName, err)
	}
	ns, _, err := loader.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	c, err := NewClient(cfg, ns)
	if err != nil {
		return nil, err
	}
	c.Context = contextName
	clients[contextName] = c
	return c, nil
}

// Forget drops the cached clients (tests that switch kubeconfigs).
func Forget() {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	clients = map[string]*Client{}
}

// NewClient builds a client from a REST config.
func NewClient(cfg *rest.Config, namespace string) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "ferry"
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Client{
		Namespace: namespace, Config: cfg, Core: core, Dynamic: dyn,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(core.Discovery())),
	}, nil
}

// ns is the namespace to use: the given one, or the context's.
func (c *Client) ns(namespace string) string {
	if namespace != "" {
		return namespace
	}
	return c.Namespace
}

// Mapping finds the resource of a kind. Discovery is cached; a kind not found refreshes the
// cache once, since a CRD may have been installed a moment ago.
func (c *Client) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("kubernetes does not serve %s (is its CRD installed?)", gvk.GroupVersion().WithKind(gvk.Kind))
		}
		return nil, err
	}
	return m, nil
}

// Denied reports whether an error is an RBAC denial.
func Denied(err error) bool { return apierrors.IsForbidden(err) }

// Permanent reports whether retrying the same request cannot help: denied, invalid, absent,
// or a kind the cluster does not serve.
func Permanent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsNotFound(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsUnauthorized(err) || meta.IsNoMatchError(err) || errors.Is(err, errNotServed)
}

var errNotServed = errors.New("not served")

// explain wraps an API error with what Ferry was doing. A denial keeps the server's message,
// which names the user, verb, resource and namespace, and points at the RBAC Ferry needs.
func explain(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s: RBAC denies it: %w (deploy/rbac.yaml grants what Ferry's steps use)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
