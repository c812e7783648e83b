package activities

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/flow"
)

// What retrying can fix is retried; what only a person can mend fails at once.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		transient bool
	}{
		{"broker unreachable", fmt.Errorf("cluster target (127.0.0.1:9) unreachable: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{"connection reset", fmt.Errorf("list topics: %w", syscall.ECONNRESET), true},
		{"leader moved", fmt.Errorf("target end offsets: %w", kerr.NotLeaderForPartition), true},
		{"coordinator loading", fmt.Errorf("group billing: %w", kerr.CoordinatorNotAvailable), true},
		{"request timed out", kerr.RequestTimedOut, true},
		{"deadline", context.DeadlineExceeded, true},
		{"authentication", fmt.Errorf("cluster origin: %w", kerr.SaslAuthenticationFailed), false},
		{"topic authorization", fmt.Errorf("create orders: %w", kerr.TopicAuthorizationFailed), false},
		{"group authorization", kerr.GroupAuthorizationFailed, false},
		{"invalid config", kerr.InvalidConfig, false},
		{"policy", kerr.PolicyViolation, false},
		{"untrusted certificate", fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), false},
		{"needs a person", &flow.ActionError{Msg: "groups active on the target"}, false},
		{"bad input", badInput("app %q is not defined", "x"), false},
		{"cancelled", context.Canceled, false},
	} {
		if got := isTransient(c.err); got != c.transient {
			t.Errorf("%s: transient %v, want %v (%v)", c.name, got, c.transient, classify(c.err))
		}
	}
	var app *temporal.ApplicationError
	err := classify(fmt.Errorf("create orders on eu: %w", kerr.TopicAuthorizationFailed))
	if !errors.As(err, &app) || app.Type() != string(contract.Refused) || !strings.Contains(app.Message(), "create orders on eu: TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("a refusal keeps its reason and says it is one: %v", err)
	}
}
