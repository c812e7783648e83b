package kafkatest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The harness itself: a cluster with a SCRAM listener answers over both listeners, survives a
// hard restart with its data, and Connect serves the MirrorMaker 2 connectors.
func TestHarness(t *testing.T) {
	c := StartCluster(t, "h", WithSCRAM())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client(t))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := c.Client(t).ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(c.SCRAM.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	secure := c.Client(t, kgo.SeedBrokers(c.SecureAddr), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: c.SCRAM.User, Pass: c.SCRAM.Password}.AsSha512Mechanism()))
	if _, err := kadm.NewClient(secure).ListTopics(ctx); err != nil {
		t.Fatalf("SASL_SSL: %v", err)
	}
	wrong := c.Client(t, kgo.SeedBrokers(c.SecureAddr), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: c.SCRAM.User, Pass: "wrong"}.AsSha512Mechanism()), kgo.RetryTimeout(time.Second))
	if _, err := kadm.NewClient(wrong).ListTopics(ctx); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if err := c.Restart(true); err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(c.Client(t)).ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	if n != 1 {
		t.Fatalf("after a hard restart orders holds %d records, want 1", n)
	}
	StartConnect(t, c.Addr)
}
