package runbook

import "time"

// Names of the control step types. The workflow runs these itself, except notify and noop,
// which are activities like every step that does I/O.
const (
	StepSleep    = "sleep"
	StepApproval = "approval"
	StepLog      = "log"
	StepNotify   = "notify"
	StepFail     = "fail"
	StepNoop     = "noop"
)

// SleepParams for sleep: wait a duration, or until a moment.
type SleepParams struct {
	Duration Duration `yaml:"duration" json:"duration,omitempty" doc:"How long to wait."`
	Until    string   `yaml:"until" json:"until,omitempty" doc:"RFC 3339 time to wait for, e.g. 2026-12-01T02:00:00Z."`
}

// ApprovalParams for approval: wait until a person approves with ferry approve.
type ApprovalParams struct {
	Message   string   `yaml:"message" json:"message,omitempty" doc:"What the approver is asked."`
	Approvers []string `yaml:"approvers" json:"approvers,omitempty" doc:"Who may approve (informational: shown with the request)."`
	Timeout   Duration `yaml:"timeout" json:"timeout,omitempty" doc:"How long to wait; forever when empty."`
	OnTimeout string   `yaml:"onTimeout" json:"onTimeout,omitempty" enum:"fail,approve" doc:"What a timeout means: fail (default) or approve."`
}

// LogParams for log: record a message in the run's status and the worker's log.
type LogParams struct {
	Message string `yaml:"message" json:"message" ferry:"required"`
	Level   string `yaml:"level" json:"level,omitempty" enum:"info,warn"`
}

// NotifyParams for notify: post a message to a webhook.
type NotifyParams struct {
	Message string     `yaml:"message" json:"message" ferry:"required"`
	Webhook *SecretRef `yaml:"webhook" json:"webhook,omitempty" doc:"Where the webhook URL is read from (it often holds a token). Without it the message goes to the worker's log."`
}

// FailParams for fail: stop the run with a message.
type FailParams struct {
	Message string `yaml:"message" json:"message" ferry:"required"`
}

func init() {
	Register(StepType{
		Name: StepSleep, Control: true, Params: SleepParams{},
		Summary: "Wait for a duration or until a time (a durable timer: survives restarts).",
	})
	Register(StepType{
		Name: StepApproval, Control: true, Params: ApprovalParams{},
		Summary: "Wait until a person runs `ferry approve RUN --step ID` (or rejects).",
		Doc:     "The run shows as waiting. A rejection or a timeout with onTimeout: fail fails the step, which rolls the run back if it has not passed its point of no return.",
		Outputs: []Output{{"approvedBy", "Who approved."}, {"comment", "The approver's comment."}, {"approvedAt", "When (RFC 3339)."}},
	})
	Register(StepType{
		Name: StepLog, Control: true, Params: LogParams{},
		Summary: "Record a message in the run's status and the worker log.",
		Outputs: []Output{{"message", "The message as resolved."}},
	})
	Register(StepType{
		Name: StepNotify, Params: NotifyParams{}, DefaultTimeout: time.Minute,
		Summary: "Post a message to a webhook (JSON {\"text\": ...}), or log it on the worker.",
		Outputs: []Output{{"delivered", "true when a webhook accepted it."}},
		Touches: func(with map[string]any, _ *Plan) []string {
			if with["webhook"] != nil {
				return []string{"webhook"}
			}
			return nil
		},
	})
	Register(StepType{
		Name: StepFail, Control: true, Params: FailParams{},
		Summary: "Fail the run with a message (for example under a when: condition).",
	})
	Register(StepType{
		Name: StepNoop, DefaultTimeout: time.Minute,
		Summary: "Do nothing, as an activity. For trying a runbook's shape and measuring overhead.",
	})
}
