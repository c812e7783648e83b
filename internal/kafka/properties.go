package kafka

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferryhq/ferry/runbook"
)

// Properties are a cluster's Java client properties (bootstrap.servers, security.protocol,
// SASL JAAS config, PEM trust and key material inline), for clients Ferry configures but does
// not run: MirrorMaker 2's connectors. Secrets are resolved here, on the worker; the result
// must only ever be sent to the system that needs it.
func (d Dialer) Properties(ctx context.Context, name string, c *runbook.Cluster) (map[string]string, error) {
	secrets := d.Secrets
	seeds, err := d.Seeds(name, c)
	if err != nil {
		return nil, err
	}
	p := map[string]string{"bootstrap.servers": strings.Join(seeds, ",")}
	protocol := "PLAINTEXT"
	if c.TLS != nil {
		protocol = "SSL"
		if c.TLS.InsecureSkipVerify {
			p["ssl.endpoint.identification.algorithm"] = ""
		}
		if c.TLS.CA != nil {
			ca, err := secrets(ctx, c.TLS.CA)
			if err != nil {
				return nil, err
			}
			p["ssl.truststore.type"] = "PEM"
			p["ssl.truststore.certificates"] = ca
		}
		if c.TLS.Cert != nil {
			cert, err := secrets(ctx, c.TLS.Cert)
			if err != nil {
				return nil, err
			}
			key, err := secrets(ctx, c.TLS.Key)
			if err != nil {
				return nil, err
			}
			p["ssl.keystore.type"] = "PEM"
			p["ssl.keystore.certificate.chain"] = cert
			p["ssl.keystore.key"] = key
		}
	}
	if s := c.SASL; s != nil {
		user, err := secrets(ctx, s.Username)
		if err != nil {
			return nil, err
		}
		pass, err := secrets(ctx, s.Password)
		if err != nil {
			return nil, err
		}
		module := "org.apache.kafka.common.security.plain.PlainLoginModule"
		if strings.HasPrefix(s.Mechanism, "SCRAM") {
			module = "org.apache.kafka.common.security.scram.ScramLoginModule"
		}
		p["sasl.mechanism"] = s.Mechanism
		p["sasl.jaas.config"] = fmt.Sprintf("%s required username=%q password=%q;", module, user, pass)
		protocol = "SASL_" + protocol // SASL_PLAINTEXT or SASL_SSL
	}
	p["security.protocol"] = protocol
	return p, nil
}
