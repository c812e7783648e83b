package activities

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/kube"
)

// ResolveSecret reads a secret on the worker. Errors name the reference, never the value.
func ResolveSecret(ctx context.Context, ref *engine.SecretRef) (string, error) {
	switch {
	case ref == nil:
		return "", nil
	case ref.Env != "":
		v, ok := os.LookupEnv(ref.Env)
		if !ok {
			return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("secret env:%s is not set on the worker", ref.Env), "SecretMissing", nil)
		}
		return v, nil
	case ref.File != "":
		b, err := os.ReadFile(ref.File)
		if err != nil {
			return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("secret file:%s: %v", ref.File, err), "SecretMissing", nil)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case ref.Secret != nil:
		k := ref.Secret
		c, err := kube.Connect(k.Context)
		if err != nil {
			return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("secret %s: %v", ref.Describe(), err), "SecretMissing", nil)
		}
		v, err := c.SecretValue(ctx, k.Namespace, k.Name, k.Key)
		if err != nil {
			return "", kubeErr(fmt.Errorf("secret %s: %w", ref.Describe(), err))
		}
		return v, nil
	}
	return "", temporal.NewNonRetryableApplicationError("empty secret reference", "SecretMissing", nil)
}
