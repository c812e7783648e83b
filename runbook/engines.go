package runbook

// Engine is a replication engine: what copies the data from origin to target.
type Engine string

// The replication engines. Adding one means a constant here and a backend in package
// activities (one file and one registration).
const (
	// EngineBuiltin is Ferry's own mirror, run by the worker; the default.
	EngineBuiltin Engine = "builtin"
	// EngineConnect is MirrorMaker 2's connectors on a Kafka Connect cluster the user runs.
	EngineConnect Engine = "connect"
	// EngineStrimzi is a KafkaMirrorMaker2 resource run by the Strimzi (or Event Streams) operator.
	EngineStrimzi Engine = "strimzi"
)

// Or is the engine, or EngineBuiltin when the runbook names none.
func (e Engine) Or() Engine {
	if e == "" {
		return EngineBuiltin
	}
	return e
}

// Builtin reports whether the engine is Ferry's own mirror (the default).
func (e Engine) Builtin() bool { return e.Or() == EngineBuiltin }

// Managed reports whether the engine runs outside Ferry (MirrorMaker 2): the run deploys it,
// watches it and removes it instead of copying itself.
func (e Engine) Managed() bool { return !e.Builtin() }

// AppKind is what runs an app: a Kubernetes workload kind, or a ferry sandbox app.
type AppKind string

// The app kinds.
const (
	AppDeployment  AppKind = "Deployment"
	AppStatefulSet AppKind = "StatefulSet"
	// AppSandbox is an app of ferry sandbox, scaled and repointed through its control endpoint.
	AppSandbox AppKind = "sandbox"
)
