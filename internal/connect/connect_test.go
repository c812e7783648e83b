package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
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
