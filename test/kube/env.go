// Package kubetest runs a real kube-apiserver and etcd (through envtest) for Ferry's
// Kubernetes tests, with the CRDs of the Strimzi and Event Streams resources Ferry touches,
// users with and without Ferry's RBAC, and stand-ins for what no apiserver does on its own:
// a kubelet that runs in-process Kafka apps per Deployment, and the Strimzi (Event Streams)
// operators' parts Ferry depends on: KafkaUsers made real users, KafkaMirrorMaker2s made
// MirrorMaker 2 connectors on a Connect worker.
//
// The binaries are built from Go modules by `go tool task kube:assets` (test/kube/assets.sh)
// into ~/.cache/ferry/kube/<version>.
package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferryhq/ferry/internal/kube"
)

// Version of the kube-apiserver the tests run; assets.sh builds the same.
const Version = "v1.35.4"

// Contexts of the kubeconfig the harness writes.
const (
	Admin  = "admin"  // system:masters
	Ferry  = "ferry"  // bound to deploy/rbac.yaml's roles, as the worker in a cluster
	Nobody = "nobody" // authenticated, no RBAC at all
)

// Env is a running apiserver with a kubeconfig.
type Env struct {
	env        *envtest.Environment
	Admin      *kube.Client
	Kubeconfig string
	users      map[string]*rest.Config
}

// Assets finds the folder with kube-apiserver and etcd, or says why there is none.
func Assets() (string, error) {
	for _, dir := range []string{os.Getenv("FERRY_KUBE_ASSETS"), os.Getenv("KUBEBUILDER_ASSETS"), defaultAssets()} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "etcd")); err == nil {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("kube-apiserver and etcd %s are not built (run: go tool task kube:assets)", Version)
}

func defaultAssets() string {
	base := os.Getenv("FERRY_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(c, "ferry")
	}
	return filepath.Join(base, "kube", Version)
}

// Skip skips (on a laptop) or fails (under CI=true) a test when the binaries are missing.
func Skip(tb testing.TB) {
	if _, err := Assets(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v", err)
		}
		tb.Skipf("%v", err)
	}
}

// Start starts an apiserver with the CRDs in test/kube/crds, writes a kubeconfig with the
// contexts admin, ferry and nobody (current: admin) and points KUBECONFIG at it for the
// whole process. Stop it with Stop.
func Start() (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime; tests read errors instead
	_, file, _, _ := runtime.Caller(0)
	e := &Env{env: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(filepath.Dir(file), "crds")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}, users: map[string]*rest.Config{}}
	cfg, err := e.env.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	e.users[Admin] = cfg
	for name, groups := range map[string][]string{Ferry: {"ferry-workers"}, Nobody: nil} {
		u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, cfg)
		if err != nil {
			e.Stop()
			return nil, err
		}
		e.users[name] = u.Config()
	}
	dir, err := os.MkdirTemp("", "ferry-kube-")
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(e.Kubeconfig, e.users); err != nil {
		e.Stop()
		return nil, err
	}
	os.Setenv("KUBECONFIG", e.Kubeconfig)
	kube.Forget()
	if e.Admin, err = kube.Connect(Admin); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Client connects as one of the kubeconfig's contexts.
func (e *Env) Client(tb testing.TB, context string) *kube.Client {
	c, err := kube.Connect(context)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Stop stops the apiserver and etcd.
func (e *Env) Stop() {
	_ = e.env.Stop()
	if e.Kubeconfig != "" {
		os.RemoveAll(filepath.Dir(e.Kubeconfig))
	}
}

func writeKubeconfig(path string, users map[string]*rest.Config) error {
	cfg := clientcmdapi.NewConfig()
	for name, u := range users {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: u.Host, CertificateAuthorityData: u.CAData}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: u.CertData, ClientKeyData: u.KeyData, Token: u.BearerToken}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	}
	cfg.CurrentContext = Admin
	return clientcmd.WriteToFile(*cfg, path)
}

// Main runs a test package against one apiserver, started before and stopped after its
// tests, and stored in *env. Without the binaries it skips the package (on a laptop) or fails
// it (under CI=true), saying which task builds them.
func Main(m *testing.M, env **Env) {
	if _, err := Assets(); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "skipping the Kubernetes tests:", err)
		os.Exit(0)
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	e.Stop()
	os.Exit(code)
}
