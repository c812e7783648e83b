// Package runbook is Ferry's runbook model: it parses and validates YAML runbooks (every error
// with file, line, column and field path), holds the catalogue of step types, and turns a
// runbook plus parameter values into a Plan — the typed, I/O-free input of the workflow.
package runbook

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
	OnFailure   []*Step             `yaml:"onFailure" doc:"Steps run, in order, when the run fails or rolls back (after the rollback), not when it is cancelled: notify someone, say so in a log. They read run.error; one failing does not stop the others."`

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
	Bootstrap Servers `yaml:"bootstrap" json:"bootstrap" doc:"Bootstrap servers: a host:port list, or one string of them split by commas."`
	Sandbox   string  `yaml:"sandbox" json:"sandbox,omitempty" doc:"Name of a ferry sandbox cluster; replaces bootstrap."`
	ClientID  string  `yaml:"clientID" json:"clientID,omitempty" doc:"Kafka client id; ferry when empty."`
	SASL      *SASL   `yaml:"sasl" json:"sasl,omitempty"`
	TLS       *TLS    `yaml:"tls" json:"tls,omitempty"`
	Pos       Pos     `yaml:"-" json:"-"`
}

// SASL authentication.
type SASL struct {
	Mechanism string     `yaml:"mechanism" json:"mechanism" ferry:"required" enum:"PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"`
	Username  *SecretRef `yaml:"username" json:"username" ferry:"required" doc:"The user name as is (username: alice), or where it is read from."`
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
	Kind      AppKind           `yaml:"kind" json:"kind" enum:"Deployment,StatefulSet,sandbox" doc:"Kubernetes workload kind, or sandbox for a ferry sandbox app."`
	Namespace string            `yaml:"namespace" json:"namespace,omitempty"`
	Name      string            `yaml:"name" json:"name,omitempty" doc:"Workload name; or use selector."`
	Selector  map[string]string `yaml:"selector" json:"selector,omitempty" doc:"Label selector of the workloads."`
	Context   string            `yaml:"context" json:"context,omitempty" doc:"Kubeconfig context."`
	Role      string            `yaml:"role" json:"role,omitempty" enum:"producer,consumer,both"`
	Cluster   string            `yaml:"cluster" json:"cluster,omitempty" doc:"The cluster the app uses now." ref:"cluster"`
	Groups    []string          `yaml:"groups" json:"groups,omitempty" doc:"Consumer groups the app uses."`
	// Connection says where a Kubernetes app reads its Kafka connection, for apps.repoint.
	Connection *AppConnection `yaml:"connection" json:"connection,omitempty" doc:"Where a Kubernetes app reads its Kafka connection (for apps.repoint)."`
	Pos        Pos            `yaml:"-" json:"-"`
}

// AppConnection is where a Kubernetes workload finds its Kafka cluster. apps.repoint changes
// exactly these places and nothing else.
type AppConnection struct {
	Env        string        `yaml:"env" json:"env,omitempty" doc:"Environment variable holding the bootstrap servers, e.g. KAFKA_BOOTSTRAP_SERVERS."`
	Containers []string      `yaml:"containers" json:"containers,omitempty" doc:"Containers to change; every container that sets env when empty."`
	ConfigMap  *ConfigMapKey `yaml:"configMap" json:"configMap,omitempty" doc:"A ConfigMap key holding the bootstrap servers; pods are restarted after it changes."`
	SecretEnv  []string      `yaml:"secretEnv" json:"secretEnv,omitempty" doc:"Environment variables read from a Secret (secretKeyRef) that move to the Secret named by apps.repoint's secret."`
	// TopicsEnv and TopicsConfigMap are where the app names its topics, for a failover that
	// changes their names (prefixed naming).
	TopicsEnv       string        `yaml:"topicsEnv" json:"topicsEnv,omitempty" doc:"Environment variable naming the topics the app reads or writes (one, or a comma-separated list); apps.repoint's topics and topicsAs rename them."`
	TopicsConfigMap *ConfigMapKey `yaml:"topicsConfigMap" json:"topicsConfigMap,omitempty" doc:"A ConfigMap key naming the topics, as topicsEnv; pods are restarted after it changes."`
}

// ConfigMapKey names one key of a ConfigMap in the app's namespace.
type ConfigMapKey struct {
	Name string `yaml:"name" json:"name" ferry:"required"`
	Key  string `yaml:"key" json:"key" ferry:"required"`
}

// Replication says what moves from origin to target and with which engine.
type Replication struct {
	Engine Engine   `yaml:"engine" json:"engine" enum:"builtin,connect,strimzi" doc:"Replication engine; builtin when empty."`
	Origin string   `yaml:"origin" json:"origin" ferry:"required" ref:"cluster" doc:"Cluster data comes from."`
	Target string   `yaml:"target" json:"target" ferry:"required" ref:"cluster" doc:"Cluster data goes to."`
	Topics Patterns `yaml:"topics" json:"topics" doc:"Topics to replicate."`
	Groups Patterns `yaml:"groups" json:"groups" doc:"Consumer groups whose offsets move."`
	Naming string   `yaml:"naming" json:"naming,omitempty" enum:"identity,prefixed,unprefixed" doc:"Target topic names: identity (same), prefixed (<alias>.<topic>), or unprefixed: only the origin's <target>.<topic> topics, under their own names <topic> (the way back from a prefixed standby; builtin engine)."`
	Alias  string   `yaml:"alias" json:"alias,omitempty" doc:"Origin alias for prefixed names and internal topics; the origin cluster's name when empty."`
	// SyncGroups makes the target a standby: its groups follow the origin's while the mirror runs.
	// TargetData says what mirror.start does with target topics holding records it did not write.
	TargetData string `yaml:"targetData" json:"targetData,omitempty" enum:"refuse,append" doc:"When a target topic already holds records this mirror did not write (a cluster restored from this flow's target, another producer): refuse, the default, fails mirror.start naming them; append copies the origin's history after them."`
	// ReplicationFactor is how target topics are replicated, by topics.sync and by the
	// builtin mirror as topics appear.
	ReplicationFactor string `yaml:"replicationFactor" json:"replicationFactor,omitempty" doc:"Replication factor of topics created on the target (by topics.sync, and by the builtin mirror for topics that appear later): origin (each topic's own), a number, or empty for the target brokers' default. Created topics get the origin topic's settings, and never a lower min.insync.replicas: a replication factor below it is refused."`
	// SyncConfigs keeps allowlisted topic settings in step while the builtin mirror runs.
	SyncConfigs *SyncConfigs `yaml:"syncConfigs" json:"syncConfigs,omitempty" doc:"Keep these topic settings of the target in step with the origin while the builtin mirror runs: drift is corrected and reported (a lower min.insync.replicas is reported, never set)."`
	// Shards splits the builtin mirror's copy over activities any worker may run.
	Shards string `yaml:"shards" json:"shards,omitempty" doc:"Builtin engine: how many copy activities share the partitions, each on whichever worker takes it (a lost worker's shard restarts on another): a number from 1 to 64, or auto (the default: one per 1,000 partitions, at most 16)."`
	// HeartbeatInterval is how often every engine writes the flow's heartbeat to the target.
	HeartbeatInterval Duration `yaml:"heartbeatInterval" json:"heartbeatInterval,omitempty" doc:"How often the mirror writes a heartbeat to the target's heartbeats topic (every engine; standby.watch reads them); 1s when empty, as MirrorMaker 2's default."`
	SyncGroups        Duration `yaml:"syncGroups" json:"syncGroups,omitempty" doc:"While the mirror runs, commit the groups' translated positions on the target this often, so consumers started there begin where the origin's were (a standby); off when empty. Groups with members on the target are left alone; positions never move back."`
	// MM2 and Strimzi configure the MirrorMaker 2 engines.
	MM2     *MM2Settings `yaml:"mm2" json:"mm2,omitempty" doc:"MirrorMaker 2 settings (engines connect and strimzi)."`
	Strimzi *Strimzi     `yaml:"strimzi" json:"strimzi,omitempty" doc:"Where and how the strimzi engine runs its KafkaMirrorMaker2 resource."`
	Connect *Connect     `yaml:"connect" json:"connect,omitempty" doc:"The Kafka Connect cluster the connect engine runs MirrorMaker 2 on."`
	Pos     Pos          `yaml:"-" json:"-"`
}

// SyncConfigs are the topic settings a running mirror keeps in step.
type SyncConfigs struct {
	Keys  []string `yaml:"keys" json:"keys" ferry:"required" doc:"Topic settings to keep in step, e.g. retention.ms, cleanup.policy (those topics.sync copies)."`
	Every Duration `yaml:"every" json:"every,omitempty" doc:"How often they are compared; 1m when empty."`
}

// MM2Settings are the MirrorMaker 2 connector settings Ferry generates for the MirrorMaker 2
// engines. OffsetLagMax defaults to 0, which makes MirrorMaker 2 write an offset sync for every
// record, so groups.translate is exact.
type MM2Settings struct {
	OffsetLagMax      *int              `yaml:"offsetLagMax" json:"offsetLagMax,omitempty" doc:"offset.lag.max; 0 (every record synced, exact translation) when empty."`
	SyncInterval      Duration          `yaml:"syncInterval" json:"syncInterval,omitempty" doc:"sync.group.offsets.interval.seconds and emit.checkpoints.interval.seconds; 10s when empty."`
	RefreshInterval   Duration          `yaml:"refreshInterval" json:"refreshInterval,omitempty" doc:"refresh.topics/groups.interval.seconds; 10s when empty."`
	ReplicationFactor int               `yaml:"replicationFactor" json:"replicationFactor,omitempty" doc:"Replication factor of created and internal topics; -1 (broker default) when empty."`
	ConnectGroup      string            `yaml:"connectGroup" json:"connectGroup,omitempty" doc:"Kafka Connect group id and prefix of its internal topics; ferry-<runbook> when empty."`
	Config            map[string]string `yaml:"config" json:"config,omitempty" doc:"More connector configuration, passed through as is."`
}

// Connect is a Kafka Connect REST endpoint for the connect engine.
type Connect struct {
	URL      string     `yaml:"url" json:"url" ferry:"required" doc:"REST endpoint, e.g. http://connect:8083."`
	Username *SecretRef `yaml:"username" json:"username,omitempty" doc:"Basic-auth user of the REST API, as is or where it is read from."`
	Password *SecretRef `yaml:"password" json:"password,omitempty" doc:"Basic-auth password of the REST API."`
	Name     string     `yaml:"name" json:"name,omitempty" doc:"Prefix of the connector names; ferry-<runbook> when empty."`
	TasksMax int        `yaml:"tasksMax" json:"tasksMax,omitempty" doc:"tasks.max of the source connector; 1 when empty."`
	TLS      *TLS       `yaml:"tls" json:"tls,omitempty" doc:"TLS of an https REST endpoint: the CA that signed it, a client certificate when it requires one."`
}

// Strimzi places the KafkaMirrorMaker2 resource of the strimzi engine.
type Strimzi struct {
	Context   string            `yaml:"context" json:"context,omitempty" doc:"Kubeconfig context; the current one when empty."`
	Namespace string            `yaml:"namespace" json:"namespace" ferry:"required" doc:"Namespace of the KafkaMirrorMaker2 (and of the Secrets it refers to)."`
	Name      string            `yaml:"name" json:"name,omitempty" doc:"Resource name; the runbook's name when empty."`
	APIGroup  string            `yaml:"apiGroup" json:"apiGroup,omitempty" enum:"kafka.strimzi.io,eventstreams.ibm.com" doc:"API group of the operator: Strimzi (default) or IBM Event Streams."`
	Shape     string            `yaml:"shape" json:"shape,omitempty" enum:"auto,clusters,target" doc:"clusters (connectCluster + clusters) or target (target + mirrors[].source); auto reads the installed CRD."`
	Version   string            `yaml:"version" json:"version,omitempty" doc:"Kafka version of the MirrorMaker 2 pods; the operator's default when empty."`
	Replicas  int               `yaml:"replicas" json:"replicas,omitempty" doc:"MirrorMaker 2 pods; 1 when empty."`
	Bootstrap map[string]string `yaml:"bootstrap" json:"bootstrap,omitempty" doc:"Bootstrap servers as the MirrorMaker 2 pods reach each cluster, by cluster name; the cluster's bootstrap when absent."`
	Template  any               `yaml:"template" json:"template,omitempty" doc:"spec.template of the resource as is (e.g. the pod annotations Event Streams requires)."`
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
	EndWith         string     `yaml:"endWith" doc:"Parallel blocks: the id of one of the block's steps; when it succeeds, the block stops the others and ends (a standby.watch ends with its outputs). Without it the block ends when all have."`
	Timeout         Duration   `yaml:"timeout" doc:"Longest the step may take, all its attempts together; the step type's default when empty (ferry steps)."`
	Retry           *Retry     `yaml:"retry" doc:"How failed attempts are retried; when empty, transient failures (an unreachable broker, a leader moving, a server error) are retried until the timeout, permanent ones (authentication, authorization, invalid input) fail at once."`
	When            string     `yaml:"when" doc:"Expression; the step is skipped when it is false."`
	Undoes          string     `yaml:"undoes" doc:"Rollback only: the step this one undoes; runs only if that step completed."`
	PointOfNoReturn bool       `yaml:"pointOfNoReturn" doc:"Once this step completes, a failure no longer rolls back."`
	ContinueOnError bool       `yaml:"continueOnError" doc:"A failure of this step does not fail the run."`
	Pos             Pos        `yaml:"-" json:"-"`
}

// Retry policy of a step. Attempts count the first one. Only transient failures are
// retried; permanent ones fail the step at once.
type Retry struct {
	MaxAttempts int      `yaml:"maxAttempts" json:"maxAttempts" doc:"Attempts in all, including the first; 1 means no retry. Still bounded by the step's timeout."`
	Backoff     Duration `yaml:"backoff" json:"backoff,omitempty" doc:"Wait before the second attempt; doubles each time."`
	MaxBackoff  Duration `yaml:"maxBackoff" json:"maxBackoff,omitempty" doc:"Longest wait between attempts."`
	// UntilTimeout retries transient failures until the step's timeout rather than counting
	// attempts: what a step gets when its runbook sets no retry.
	UntilTimeout bool `yaml:"-" json:"untilTimeout,omitempty"`
	// WithinTimeout makes the step's timeout bound all its attempts together. Plans made
	// before it existed bound each attempt, and replay as they were.
	WithinTimeout bool `yaml:"-" json:"withinTimeout,omitempty"`
}
