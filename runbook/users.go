package runbook

import "time"

// StepKafkaUsers creates or updates SCRAM users on a cluster, passwords from secrets.
const StepKafkaUsers = "kafka.users"

// KafkaUsersParams for kafka.users.
type KafkaUsersParams struct {
	Cluster string      `yaml:"cluster" json:"cluster" ferry:"required" ref:"cluster" doc:"Cluster the users are created on."`
	Users   []ScramUser `yaml:"users" json:"users" ferry:"required" doc:"Users to create, or whose password to set."`
}

// ScramUser is one SCRAM credential; its password is read from a secret on the worker.
type ScramUser struct {
	Name       string    `yaml:"name" json:"name" ferry:"required" doc:"User name (the principal User:<name>)."`
	Password   SecretRef `yaml:"password" json:"password" ferry:"required" doc:"Where the password is read from; never the runbook."`
	Mechanism  string    `yaml:"mechanism" json:"mechanism,omitempty" enum:"SCRAM-SHA-256,SCRAM-SHA-512" doc:"SCRAM-SHA-512 when empty."`
	Iterations int       `yaml:"iterations" json:"iterations,omitempty" doc:"Hash iterations; 4096 when empty, as kafka-configs (4096 to 16384)."`
}

func init() {
	Register(StepType{
		Name: StepKafkaUsers, Params: KafkaUsersParams{}, DefaultTimeout: 2 * time.Minute,
		Summary: "Create SCRAM users on a cluster, or set their passwords, from secrets (a restored cluster's app credentials, seed 002).",
		Doc: "Each user's password is read from a secret reference on the worker and sent to Kafka with AlterUserScramCredentials: it never enters the runbook, the run's history or its outputs. " +
			"Running it again sets the same passwords. ACLs are acls.sync's; Kubernetes Secrets, secrets.copy's.",
		Outputs: []Output{{"users", "The users set, as name (mechanism)."}},
		Touches: func(with map[string]any, _ *Plan) []string {
			c, _ := with["cluster"].(string)
			return []string{"cluster " + c + " (creates SCRAM users, passwords from secrets)"}
		},
	})
}
