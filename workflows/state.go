// Package workflows holds Ferry's Temporal workflows. They orchestrate only: every side
// effect runs in an activity, so a run replays deterministically after any crash.
package workflows

import (
	"time"

	"github.com/ferryhq/ferry/runbook"
)

// Names shared by the workflow, the worker and the CLI.
const (
	RunbookWorkflowName = "ferry.Runbook"
	TaskQueue           = "ferry"

	QueryStatus   = "status"
	UpdateApprove = "approve"
	UpdatePause   = "pause"
	UpdateResume  = "resume"

	// MemoRunbook and SearchAttributeRunbook let a run be found by its runbook's name.
	MemoRunbook            = "runbook"
	SearchAttributeRunbook = "FerryRunbook"
	// SearchAttributePhase and SearchAttributeStep keep a run's phase and the steps it is at
	// (running, retrying or waiting, comma-separated) findable while it runs.
	SearchAttributePhase = "FerryPhase"
	SearchAttributeStep  = "FerryStep"
)

// SearchAttributes are Ferry's keyword search attributes, registered on the embedded server.
var SearchAttributes = []string{SearchAttributeRunbook, SearchAttributePhase, SearchAttributeStep}

// Phase is where a run stands as a whole.
type Phase string

const (
	PhaseRunning     Phase = "running"
	PhasePaused      Phase = "paused"
	PhaseWaiting     Phase = "waiting for approval"
	PhaseRollingBack Phase = "rolling back"
	PhaseSucceeded   Phase = "succeeded"
	PhaseFailed      Phase = "failed"
	PhaseRolledBack  Phase = "rolled back"
	PhaseCancelled   Phase = "cancelled"
	// PhaseTerminated and PhaseTimedOut come from Temporal's execution status, not from the
	// run: it was ended from outside (ferry terminate) or ran past its execution timeout, and
	// no rollback ran.
	PhaseTerminated Phase = "terminated"
	PhaseTimedOut   Phase = "timed out"
	// PhaseMirroring is the FerryPhase of a run's mirror child while it copies.
	PhaseMirroring = "mirroring"
)

// Terminal reports whether the run has ended.
func (p Phase) Terminal() bool {
	switch p {
	case PhaseSucceeded, PhaseFailed, PhaseRolledBack, PhaseCancelled, PhaseTerminated, PhaseTimedOut:
		return true
	}
	return false
}

// StepStatus is where one step stands.
type StepStatus string

const (
	StepPending   StepStatus = "pending"
	StepRunning   StepStatus = "running"
	StepRetrying  StepStatus = "retrying"
	StepWaiting   StepStatus = "waiting"
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	StepSkipped   StepStatus = "skipped"
	StepCancelled StepStatus = "cancelled"
)

// Done reports whether the step will not run again in this run.
func (s StepStatus) Done() bool {
	switch s {
	case StepSucceeded, StepFailed, StepSkipped, StepCancelled:
		return true
	}
	return false
}

// StepState is one step's record, as ferry status shows it.
type StepState struct {
	ID       string `json:"id"`
	Uses     string `json:"uses,omitempty"`
	Depth    int    `json:"depth,omitempty"`
	Rollback bool   `json:"rollback,omitempty"`
	// OnFailure marks the steps that run when the run fails or rolls back.
	OnFailure bool       `json:"onFailure,omitempty"`
	Status    StepStatus `json:"status"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	Attempts  int        `json:"attempts,omitempty"`
	LastError string     `json:"lastError,omitempty"`
	// RetryingSince is when the step's current run of failed attempts began; cleared when an
	// attempt succeeds.
	RetryingSince *time.Time     `json:"retryingSince,omitempty"`
	Outputs       map[string]any `json:"outputs,omitempty"`
	// Message is what an approval asks, or what a log step said.
	Message string `json:"message,omitempty"`
	// Approval is set on approval steps once someone decided.
	Approval *Approval `json:"approval,omitempty"`
}

// Approval is a decision on an approval step, sent by ferry approve.
type Approval struct {
	Step    string    `json:"step,omitempty"`
	By      string    `json:"by,omitempty"`
	Comment string    `json:"comment,omitempty"`
	Reject  bool      `json:"reject,omitempty"`
	At      time.Time `json:"at,omitempty"`
}

// State is a run's whole state. It is carried across continue-as-new, so a run that lasts
// days keeps its history short without forgetting what it did.
type State struct {
	Phase     Phase                 `json:"phase"`
	Paused    bool                  `json:"paused,omitempty"`
	Steps     map[string]*StepState `json:"steps"`
	Completed []string              `json:"completed,omitempty"`
	// PastPointOfNoReturn is set once a step marked pointOfNoReturn completed.
	PastPointOfNoReturn bool      `json:"pastPointOfNoReturn,omitempty"`
	StartedAt           time.Time `json:"startedAt"`
	EndedAt             time.Time `json:"endedAt,omitzero"`
	Error               string    `json:"error,omitempty"`
	// Continued counts continue-as-new hand-overs.
	Continued int `json:"continued,omitempty"`
	// AppUndo holds, per "<step type> <app>", what apps.scale and apps.repoint changed the
	// first time they changed the app, for restore: true however many days later.
	AppUndo map[string]*runbook.Undo `json:"appUndo,omitempty"`
}

// Status is the answer to the status query: the state with steps in runbook order.
type Status struct {
	RunID   string       `json:"runID"`
	Runbook string       `json:"runbook"`
	Phase   Phase        `json:"phase"`
	Paused  bool         `json:"paused,omitempty"`
	Steps   []*StepState `json:"steps"`
	// Waiting lists approval steps waiting for a decision.
	Waiting             []string  `json:"waiting,omitempty"`
	PastPointOfNoReturn bool      `json:"pastPointOfNoReturn,omitempty"`
	StartedAt           time.Time `json:"startedAt"`
	EndedAt             time.Time `json:"endedAt,omitzero"`
	Error               string    `json:"error,omitempty"`
	Continued           int       `json:"continued,omitempty"`
}
