package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TLS failures are permanent: retrying with the same certificates cannot help.
func TestTLSFailuresArePermanent(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	untrusted := New(srv.URL, "", "")
	err := untrusted.Put(ctx, "x", nil)
	if err == nil || !Permanent(err) {
		t.Fatalf("server certificate not trusted: %v (permanent %v)", err, Permanent(err))
	}

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	noCert := New(srv.URL, "", "")
	noCert.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	err = noCert.Put(ctx, "x", nil)
	if err == nil || !Permanent(err) {
		t.Fatalf("client certificate missing: %v (permanent %v)", err, Permanent(err))
	}

	if Permanent(&Error{Status: http.StatusConflict}) || !Permanent(&Error{Status: http.StatusBadRequest}) || Permanent(&Error{Status: 500}) {
		t.Fatal("409 and 5xx are retried, other 4xx are not")
	}
}

// Basic auth goes with every request; Connect's refusal (401) is permanent and keeps its message.
func TestBasicAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "mm2" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":401,"message":"User cannot access the resource."}`))
			return
		}
		_, _ = w.Write([]byte(`{"name":"x.MirrorSourceConnector","connector":{"state":"RUNNING"},"tasks":[]}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	if s, found, err := New(srv.URL, "mm2", "s3cret").Status(ctx, "x.MirrorSourceConnector"); err != nil || !found || s.Connector.State != "RUNNING" {
		t.Fatalf("with credentials: %+v %v %v", s, found, err)
	}
	_, _, err := New(srv.URL, "mm2", "wrong").Status(ctx, "x.MirrorSourceConnector")
	if err == nil || !Permanent(err) || !strings.Contains(err.Error(), "401 User cannot access the resource.") {
		t.Fatalf("wrong password: %v", err)
	}
}
