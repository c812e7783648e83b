package activities

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/flow"
)

// classify decides what retrying can fix, so that a step rides out a broker restart and
// fails at once on what only a person can mend (README: "What Ferry retries").
//
// Permanent: an error already marked so (bad input, a Kubernetes refusal, a secret missing),
// a refusal a person must act on (flow.ActionError), a Kafka error code Kafka itself calls
// non-retriable (authentication, authorization, invalid configuration or request, policy),
// and a TLS certificate the client does not trust. Everything else is transient: unreachable
// or restarting brokers, resets, timeouts, retriable codes (NOT_LEADER_OR_FOLLOWER,
// COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT, …), and HTTP 5xx and 429 from Kafka Connect
// and the apiserver.
func classify(err error) error {
	var app *temporal.ApplicationError
	var action *flow.ActionError
	var ke *kerr.Error
	switch {
	case err == nil, errors.As(err, &app), errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &action):
		return contract.BadInput.Fail("%s", action.Msg)
	case errors.As(err, &ke) && !ke.Retriable:
		return contract.Refused.Fail("%v", err)
	case untrusted(err):
		return contract.Refused.Fail("%v", err)
	}
	return err
}

// untrusted reports a TLS handshake that failed on the certificate: no retry changes it.
func untrusted(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify)
}

// isTransient reports whether classify leaves err to be retried.
func isTransient(err error) bool {
	var app *temporal.ApplicationError
	if errors.As(classify(err), &app) {
		return !app.NonRetryable()
	}
	return !errors.Is(err, context.Canceled)
}
