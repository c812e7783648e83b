// Package contract is the one home of the strings that Temporal records in histories and that
// the workflows, the activities and the CLI must agree on: the activity types outside the step
// catalogue (whose names are the step types) and the failure types. Renaming one breaks the
// replay of recorded runs.
package contract

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// Activity types of the mirror workflow. The step activities are named after their step types
// (package runbook's catalogue).
const (
	// ActivityMirrorRun is the builtin engine's copy: long, heartbeating, resumed from the
	// target after a crash.
	ActivityMirrorRun = "mirror.run"
	// ActivityMirrorDeploy starts a MirrorMaker 2 engine and returns once it runs.
	ActivityMirrorDeploy = "mirror.deploy"
	// ActivityMirrorWatch reports a MirrorMaker 2 engine's health until cancelled.
	ActivityMirrorWatch = "mirror.watch"
	// ActivityMirrorRemove takes a MirrorMaker 2 engine down.
	ActivityMirrorRemove = "mirror.remove"
)

// Failure is the type of an application error: what retrying can and cannot fix.
type Failure string

// The failure types.
const (
	// BadInput: a wrong address, credential, parameter or state that a person must fix;
	// retrying cannot help.
	BadInput Failure = "BadInput"
	// BadParameters: a step's parameters do not resolve or decode.
	BadParameters Failure = "BadParameters"
	// Refused: a cluster refused for good (authentication, authorization, invalid
	// configuration, an untrusted certificate); retrying cannot change its answer.
	Refused Failure = "Refused"
	// SecretMissing: a secret reference points at nothing on the worker.
	SecretMissing Failure = "SecretMissing"
	// Kubernetes: the apiserver refused for good (invalid object, absent kind).
	Kubernetes Failure = "Kubernetes"
	// KubernetesForbidden: RBAC denied a request.
	KubernetesForbidden Failure = "KubernetesForbidden"
	// MirrorFailed: MirrorMaker 2 reports a connector or task FAILED.
	MirrorFailed Failure = "MirrorFailed"
	// RunbookFail: a fail step ended the run on purpose.
	RunbookFail Failure = "RunbookFail"
	// RunbookFailed: the run failed (and maybe rolled back).
	RunbookFailed Failure = "RunbookFailed"
	// ApprovalTimeout and ApprovalRejected end an approval step without a yes.
	ApprovalTimeout  Failure = "ApprovalTimeout"
	ApprovalRejected Failure = "ApprovalRejected"
	// UnknownStep: the worker has no implementation of a control step.
	UnknownStep Failure = "UnknownStep"
)

// Fail returns a non-retryable error of this type.
func (f Failure) Fail(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), string(f), nil)
}

// FailWith is Fail carrying details, which the server's record of the failure keeps.
func (f Failure) FailWith(details any, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), string(f), nil, details)
}

// Types lists failure types as Temporal's retry policies take them.
func Types(fs ...Failure) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}
