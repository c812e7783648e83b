// Package kafka turns a runbook's cluster (bootstrap servers or a sandbox name, SASL, TLS,
// secret references) into franz-go clients on the worker.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/ferryhq/ferry/runbook"
)

// SecretResolver reads a secret reference on the worker.
type SecretResolver func(ctx context.Context, ref *runbook.SecretRef) (string, error)

// Dialer turns a runbook's clusters into franz-go clients on the worker.
type Dialer struct {
	// Secrets reads the clusters' secret references.
	Secrets SecretResolver
	// Sandbox finds the address of a ferry sandbox cluster by name; without it, a cluster
	// that names a sandbox cannot be reached.
	Sandbox func(name string) (string, error)
}

// Seeds returns a cluster's bootstrap addresses, resolving a sandbox name.
func (d Dialer) Seeds(name string, c *runbook.Cluster) ([]string, error) {
	if c == nil {
		return nil, fmt.Errorf("cluster %q is not defined in the runbook", name)
	}
	if c.Sandbox == "" {
		return c.Bootstrap, nil
	}
	if d.Sandbox == nil {
		return nil, fmt.Errorf("cluster %s: sandbox %q: this worker runs no sandboxes", name, c.Sandbox)
	}
	addr, err := d.Sandbox(c.Sandbox)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return []string{addr}, nil
}

// TLSConfig builds a client TLS configuration from a runbook's tls section; where names the
// section in errors ("cluster origin: tls"). Errors name secret references, never values.
func TLSConfig(ctx context.Context, where string, t *runbook.TLS, secrets SecretResolver) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in for tests
	if t.CA != nil {
		pem, err := secrets(ctx, t.CA)
		if err != nil {
			return nil, fmt.Errorf("%s.ca: %w", where, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pem)) {
			return nil, fmt.Errorf("%s.ca from %s holds no PEM certificate", where, t.CA.Describe())
		}
		cfg.RootCAs = pool
	}
	if t.Cert != nil {
		cert, err := secrets(ctx, t.Cert)
		if err != nil {
			return nil, fmt.Errorf("%s.cert: %w", where, err)
		}
		key, err := secrets(ctx, t.Key)
		if err != nil {
			return nil, fmt.Errorf("%s.key: %w", where, err)
		}
		kp, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return nil, fmt.Errorf("%s: client certificate from %s and %s: %v", where, t.Cert.Describe(), t.Key.Describe(), err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

// Options builds the franz-go options that connect to a cluster. Errors name the cluster and
// the secret reference, never a secret's value.
func (d Dialer) Options(ctx context.Context, name string, c *runbook.Cluster) ([]kgo.Opt, error) {
	secrets := d.Secrets
	if c == nil {
		return nil, fmt.Errorf("cluster %q is not defined in the runbook", name)
	}
	seeds, err := d.Seeds(name, c)
	if err != nil {
		return nil, err
	}
	id := c.ClientID
	if id == "" {
		id = "ferry"
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID(id), kgo.DialTimeout(10 * time.Second), kgo.RetryTimeout(30 * time.Second)}
	if c.TLS != nil {
		cfg, err := TLSConfig(ctx, "cluster "+name+": tls", c.TLS, secrets)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s := c.SASL; s != nil {
		user, err := secrets(ctx, s.Username)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: sasl.username: %w", name, err)
		}
		pass, err := secrets(ctx, s.Password)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: sasl.password: %w", name, err)
		}
		switch s.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("cluster %s: unsupported SASL mechanism %q", name, s.Mechanism)
		}
	}
	return opts, nil
}

// Connect returns a client and checks the cluster answers (metadata), so a wrong address or
// credential fails here with a clear message rather than later in a retry loop.
func (d Dialer) Connect(ctx context.Context, name string, c *runbook.Cluster, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := d.Options(ctx, name, c)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cluster %s (%s) unreachable: %w", name, describeSeeds(c), explain(err))
	}
	return cl, nil
}

func describeSeeds(c *runbook.Cluster) string {
	if c.Sandbox != "" {
		return "sandbox " + c.Sandbox
	}
	return strings.Join(c.Bootstrap, ",")
}

// explain adds the usual cause to errors that say little on their own.
func explain(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer within 15s (wrong address, firewall, or a TLS/plaintext mismatch)")
	}
	msg := err.Error()
	if strings.Contains(msg, "EOF") {
		return fmt.Errorf("%w (the broker closed the connection: often wrong SASL credentials or a TLS/plaintext mismatch)", err)
	}
	return err
}
