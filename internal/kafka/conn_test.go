package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/runbook"

	"github.com/ferryhq/ferry/internal/sandbox"
)

// testSecrets resolves env references only, as the worker does.
func testSecrets(_ context.Context, ref *runbook.SecretRef) (string, error) {
	if ref.File != "" {
		b, err := os.ReadFile(ref.File)
		return string(b), err
	}
	return os.Getenv(ref.Env), nil
}

// certs makes a CA and a server certificate for 127.0.0.1, returning the server's TLS
// config and the CA in PEM.
func certs(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry test CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func secureCluster(t *testing.T) (addr, caFile string) {
	t.Helper()
	serverTLS, caPEM := certs(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "ferry", "s3cret-pass"), kfake.TLS(serverTLS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c.ListenAddrs()[0], caFile
}

func scramCluster(addr, caFile, passEnv string) *runbook.Cluster {
	return &runbook.Cluster{
		Bootstrap: []string{addr},
		SASL: &runbook.SASL{Mechanism: "SCRAM-SHA-512",
			Username: &runbook.SecretRef{Env: "FERRY_TEST_USER"}, Password: &runbook.SecretRef{Env: passEnv}},
		TLS: &runbook.TLS{CA: &runbook.SecretRef{File: caFile}},
	}
}

func TestSCRAMOverTLS(t *testing.T) {
	addr, caFile := secureCluster(t)
	t.Setenv("FERRY_TEST_USER", "ferry")
	t.Setenv("FERRY_TEST_PASS", "s3cret-pass")
	ctx := context.Background()
	cl, err := Dialer{Secrets: testSecrets}.Connect(ctx, "origin", scramCluster(addr, caFile, "FERRY_TEST_PASS"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("over TLS with SCRAM")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestBadCredentialsFailFastWithoutTheSecret(t *testing.T) {
	addr, caFile := secureCluster(t)
	t.Setenv("FERRY_TEST_USER", "ferry")
	t.Setenv("FERRY_TEST_WRONG", "hunter2-wrong")
	start := time.Now()
	_, err := Dialer{Secrets: testSecrets}.Connect(context.Background(), "origin", scramCluster(addr, caFile, "FERRY_TEST_WRONG"))
	if err == nil {
		t.Fatal("a wrong password connected")
	}
	t.Log(err)
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "cluster origin") {
		t.Fatalf("error must name the cluster and never the secret: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s to fail", d)
	}
}

func TestUnreachableAndPlaintextToTLS(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	_, err := Dialer{Secrets: testSecrets}.Connect(context.Background(), "target", &runbook.Cluster{Bootstrap: []string{dead}})
	if err == nil || !strings.Contains(err.Error(), "cluster target ("+dead+") unreachable") {
		t.Fatalf("unreachable: %v", err)
	}
	addr, _ := secureCluster(t)
	_, err = Dialer{Secrets: testSecrets}.Connect(context.Background(), "target", &runbook.Cluster{Bootstrap: []string{addr}})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("plaintext to a TLS listener: %v", err)
	}
	t.Log(err)
}

// A sandbox name resolves through the worker's sandbox directory: an address set on it wins
// over the registry file ferry sandbox writes.
func TestSandboxSeeds(t *testing.T) {
	dir := &sandbox.Directory{File: sandbox.RegistryFile(t.TempDir())}
	d := Dialer{Secrets: testSecrets, Sandbox: dir.Address}
	if _, err := d.Seeds("o", &runbook.Cluster{Sandbox: "origin"}); err == nil || !strings.Contains(err.Error(), "ferry sandbox") {
		t.Fatalf("missing sandbox: %v", err)
	}
	if err := os.WriteFile(dir.File, []byte(`{"origin":"127.0.0.1:9"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := d.Seeds("o", &runbook.Cluster{Sandbox: "origin"}); err != nil || s[0] != "127.0.0.1:9" {
		t.Fatalf("%v %v", s, err)
	}
	dir.Set("ORIGIN", "127.0.0.1:10")
	if s, _ := d.Seeds("o", &runbook.Cluster{Sandbox: "origin"}); s[0] != "127.0.0.1:10" {
		t.Fatalf("a set address should win: %v", s)
	}
	if _, err := (Dialer{Secrets: testSecrets}).Seeds("o", &runbook.Cluster{Sandbox: "origin"}); err == nil {
		t.Fatal("a worker without sandboxes resolved one")
	}
}
