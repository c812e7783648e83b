// Package engine is Ferry's runbook model: it parses and validates YAML runbooks (every error
// with file, line, column and field path), holds the catalogue of step types, and turns a
// runbook plus parameter values into a Plan — the typed, I/O-free input of the workflow.
package engine

import "go.yaml.in/yaml/v3"

// APIVersion is the only runbook version this Ferry reads.
const APIVersion = "ferry.dev/v1alpha1"

// Runbook is one runbook file as written.
type Runbook struct {
	APIVersion  string              `yaml:"apiVersion" ferry:"required" enum:"ferry.dev/v1alpha1" doc:"Runbook format version."`
	Kind        string              `yaml:"kind" ferry:"required" enum:"Runbook" doc:"Always Runbook."`
	Metadata    Metadata            `yaml:"metadata" ferry:"required"`
	Params      map[string]*Param   `yaml:"params" doc:"Typed parameters, set with --set name=value or a values file."`
	Clusters    map[string]*Cluster `yaml:"clusters" doc:"Kafka clusters by name."`
	Apps        map[string]*App     `yaml:"apps" doc:"Applications (producers, consumers) by name."`
	Replication *Replication        `yaml:"replication" doc:"How data moves from origin to target."`
	Steps       []*Step             `yaml:"steps" ferry:"required" doc:"What to do, in order."`
	Rollback    []*Step             `yaml:"rollback" doc:"Steps that undo completed steps when a run fails or is cancelled before its point of no return."`

	File string `yaml:"-" json:"-"`
	Pos  Pos    `yaml:"-" json:"-"`
	// at holds the position of every value by field path.
	at map[string]Pos
}

// Metadata names and describes a runbook.
type Metadata struct {
	Name        string            `yaml:"name" ferry:"required" doc:"Runbook name: lower-case letters, digits and dashes."`
	Description string            `yaml:"description" doc:"What the runbook does."`
	Labels      map[string]string `yaml:"labels" doc:"Free-form labels."`
	Pos         Pos               `yaml:"-" json:"-"`
}

// Param is a typed runbook parameter.
type Param struct {
	Type        string     `yaml:"type" json:"type" enum:"string,int,number,bool,duration,list" doc:"Value type; string when empty."`
	Default     *yaml.Node `yaml:"default" json:"-" doc:"Value used when none is given."`
	Required    bool       `yaml:"required" json:"required,omitempty" doc:"A value must be given (no default)."`
	Description string     `yaml:"description" json:"description,omitempty"`
	Enum        []string   `yaml:"enum" json:"enum,omitempty" doc:"Allowed values."`
	Pos         Pos        `yaml:"-" json:"-"`
}

// Cluster is how the worker connects to one Kafka cluster. Secrets are references only.
type Cluster struct {
	Bootstrap []string `yaml:"bootstrap" json:"bootstrap" doc:"Bootstrap servers, host:port."`
	Sandbox   string   `yaml:"sandbox" json:"sandbox,omitempty" doc:"Name of a ferry sandbox cluster; replaces bootstrap."`
	ClientID  string   `yaml:"clientID" json:"clientID,omitempty" doc:"Kafka client id; ferry when empty."`
	SASL      *SASL    `yaml:"sasl" json:"sasl,omitempty"`
	TLS       *TLS     `yaml:"tls" json:"tls,omitempty"`
	Pos       Pos      `yaml:"-" json:"-"`
}

// SASL authentication.
type SASL struct {
	Mechanism string     `yaml:"mechanism" json:"mechanism" ferry:"required" enum:"PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"`
	Username  *SecretRef `yaml:"username" json:"username" ferry:"required" doc:"Where the user name is read from."`
	Password  *SecretRef `yaml:"password" json:"password" ferry:"required" doc:"Where the password is read from."`
}

// TLS settings. With tls present and no CA, the system roots are trusted.
type TLS struct {
	CA                 *SecretRef `yaml:"ca" json:"ca,omitempty" doc:"PEM CA certificates."`
	Cert               *SecretRef `yaml:"cert" json:"cert,omitempty" doc:"PEM client certificate (with key)."`
	Key                *SecretRef `yaml:"key" json:"key,omitempty" doc:"PEM client private key (with cert)."`
	ServerName         string     `yaml:"serverName" json:"serverName,omitempty"`
	InsecureSkipVerify bool       `yaml:"insecureSkipVerify" json:"insecureSkipVerify,omitempty" doc:"Do not verify the broker certificate (tests only)."`
}

// App is a workload that produces to or consumes from Kafka.
type App struct {
	Kind      string            `yaml:"kind" json:"kind" enum:"Deployment,StatefulSet,sandbox" doc:"Kubernetes workload kind, or sandbox for a ferry sandbox app."`
	Namespace string            `yaml:"namespace" json:"namespace,omitempty"`
	Name      string            `yaml:"name" json:"name,omitempty" doc:"Workload name; or use selector."`
	Selector  map[string]string `yaml:"selector" json:"selector,omitempty" doc:"Label selector of the workloads."`
	Context   string            `yaml:"context" json:"context,omitempty" doc:"Kubeconfig context."`
	Role      string            `yaml:"role" json:"role,omitempty" enum:"producer,consumer,both"`
	Cluster   string            `yaml:"cluster" json:"cluster,omitempty" doc:"The cluster the app uses now." ref:"cluster"`
	Groups    []string          `yaml:"groups" json:"groups,omitempty" doc:"Consumer groups the app uses."`
	Pos       Pos               `yaml:"-" json:"-"`
}

// Replication says what moves from origin to target and with which engine.
type Replication struct {
	Engine string   `yaml:"engine" json:"engine" enum:"builtin,connect,strimzi" doc:"Replication engine; builtin when empty."`
	Origin string   `yaml:"origin" json:"origin" ferry:"required" ref:"cluster" doc:"Cluster data comes from."`
	Target string   `yaml:"target" json:"target" ferry:"required" ref:"cluster" doc:"Cluster data goes to."`
	Topics Patterns `yaml:"topics" json:"topics" doc:"Topics to replicate."`
	Groups Patterns `yaml:"groups" json:"groups" doc:"Consumer groups whose offsets move."`
	Naming string   `yaml:"naming" json:"naming,omitempty" enum:"identity,prefixed" doc:"Target topic names: identity (same) or prefixed (<alias>.<topic>)."`
	Alias  string   `yaml:"alias" json:"alias,omitempty" doc:"Origin alias for prefixed names and internal topics; the origin cluster's name when empty."`
	Pos    Pos      `yaml:"-" json:"-"`
}

// Patterns selects names by regular expressions.
type Patterns struct {
	Include []string `yaml:"include" json:"include,omitempty" doc:"Regular expressions (anchored) of names to select."`
	Exclude []string `yaml:"exclude" json:"exclude,omitempty" doc:"Regular expressions (anchored) of names to leave out."`
}

// Step is one thing to do: a step type with parameters, or a parallel block.
type Step struct {
	ID              string     `yaml:"id" ferry:"required" doc:"Unique id; later steps refer to it as steps.<id>."`
	Name            string     `yaml:"name" doc:"Human title."`
	Uses            string     `yaml:"uses" doc:"Step type (see ferry steps)."`
	With            *yaml.Node `yaml:"with" doc:"Parameters of the step type."`
	Parallel        []*Step    `yaml:"parallel" doc:"Steps run at the same time; the block fails as soon as one fails."`
	Timeout         Duration   `yaml:"timeout" doc:"Longest one attempt may take."`
	Retry           *Retry     `yaml:"retry" doc:"How failed attempts are retried."`
	When            string     `yaml:"when" doc:"Expression; the step is skipped when it is false."`
	Undoes          string     `yaml:"undoes" doc:"Rollback only: the step this one undoes; runs only if that step completed."`
	PointOfNoReturn bool       `yaml:"pointOfNoReturn" doc:"Once this step completes, a failure no longer rolls back."`
	ContinueOnError bool       `yaml:"continueOnError" doc:"A failure of this step does not fail the run."`
	Pos             Pos        `yaml:"-" json:"-"`
}

// Retry policy of a step. Attempts count the first one.
type Retry struct {
	MaxAttempts int      `yaml:"maxAttempts" json:"maxAttempts" doc:"Attempts in all, including the first; 1 means no retry."`
	Backoff     Duration `yaml:"backoff" json:"backoff,omitempty" doc:"Wait before the second attempt; doubles each time."`
	MaxBackoff  Duration `yaml:"maxBackoff" json:"maxBackoff,omitempty" doc:"Longest wait between attempts."`
}
