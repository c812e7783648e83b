package runbook

import "time"

// Names of the Kubernetes step types.
const (
	StepKubeApply   = "kube.apply"
	StepKubeDelete  = "kube.delete"
	StepKubeWait    = "kube.wait"
	StepSecretsCopy = "secrets.copy"
)

// KubeApplyParams for kube.apply.
type KubeApplyParams struct {
	Context   string `yaml:"context" json:"context,omitempty" doc:"Kubeconfig context; the current one when empty."`
	Namespace string `yaml:"namespace" json:"namespace,omitempty" doc:"Namespace of namespaced objects that name none."`
	Manifest  string `yaml:"manifest" json:"manifest,omitempty" doc:"YAML documents (separated by ---) to apply."`
	Objects   []any  `yaml:"objects" json:"objects,omitempty" doc:"Objects to apply, written inline."`
	Force     bool   `yaml:"force" json:"force,omitempty" doc:"Take over fields another field manager owns."`
}

// KubeObjectRef names one Kubernetes object.
type KubeObjectRef struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion" ferry:"required" doc:"e.g. apps/v1, kafka.strimzi.io/v1beta2."`
	Kind       string `yaml:"kind" json:"kind" ferry:"required"`
	Name       string `yaml:"name" json:"name" ferry:"required"`
	Namespace  string `yaml:"namespace" json:"namespace,omitempty" doc:"The context's namespace when empty (namespaced kinds)."`
}

// KubeDeleteParams for kube.delete.
type KubeDeleteParams struct {
	Context  string           `yaml:"context" json:"context,omitempty"`
	Objects  []*KubeObjectRef `yaml:"objects" json:"objects,omitempty" doc:"Objects to delete; absent ones are fine."`
	Manifest string           `yaml:"manifest" json:"manifest,omitempty" doc:"Or the YAML documents whose objects to delete."`
	Wait     *bool            `yaml:"wait" json:"wait,omitempty" doc:"Wait until they are gone (finalizers done); true when empty."`
}

// KubeWaitParams for kube.wait.
type KubeWaitParams struct {
	Context   string         `yaml:"context" json:"context,omitempty"`
	Object    *KubeObjectRef `yaml:"object" json:"object" ferry:"required"`
	Condition string         `yaml:"condition" json:"condition,omitempty" doc:"A status condition type that must be True, e.g. Ready; Ready when neither condition nor jsonPath is set."`
	JSONPath  string         `yaml:"jsonPath" json:"jsonPath,omitempty" doc:"A JSONPath, e.g. {.status.phase}, whose value must equal value."`
	Value     string         `yaml:"value" json:"value,omitempty" doc:"The value jsonPath must reach."`
	Interval  Duration       `yaml:"interval" json:"interval,omitempty" doc:"How often the object is read; 1s when empty."`
}

// SecretPlace names a Secret and where it lives.
type SecretPlace struct {
	Context   string `yaml:"context" json:"context,omitempty" doc:"Kubeconfig context; the current one when empty."`
	Namespace string `yaml:"namespace" json:"namespace,omitempty" doc:"The context's namespace when empty."`
	Name      string `yaml:"name" json:"name" ferry:"required"`
}

// SecretsCopyParams for secrets.copy.
type SecretsCopyParams struct {
	From   *SecretPlace      `yaml:"from" json:"from" ferry:"required"`
	To     *SecretPlace      `yaml:"to" json:"to" ferry:"required"`
	Keys   map[string]string `yaml:"keys" json:"keys,omitempty" doc:"Keys to copy, source key -> target key; every key when empty."`
	Labels map[string]string `yaml:"labels" json:"labels,omitempty" doc:"Labels of the copy (e.g. strimzi.io/cluster)."`
}

func kubeTouches(with map[string]any, _ *Plan) []string {
	ctx, _ := with["context"].(string)
	if ctx == "" {
		ctx = "current context"
	}
	return []string{"kubernetes " + ctx}
}

func init() {
	Register(StepType{
		Name: StepKubeApply, Params: KubeApplyParams{}, DefaultTimeout: 5 * time.Minute,
		Summary: "Apply Kubernetes objects with server-side apply (field manager ferry).",
		Outputs: []Output{{"applied", "Objects applied, as kind/namespace/name."}},
		Touches: kubeTouches,
	})
	Register(StepType{
		Name: StepKubeDelete, Params: KubeDeleteParams{}, DefaultTimeout: 5 * time.Minute,
		Summary: "Delete Kubernetes objects (absent ones are fine) and wait until they are gone.",
		Outputs: []Output{{"deleted", "Objects that existed and were deleted."}},
		Touches: kubeTouches,
	})
	Register(StepType{
		Name: StepKubeWait, Params: KubeWaitParams{}, DefaultTimeout: 15 * time.Minute,
		Summary: "Wait until a Kubernetes object has a condition True (e.g. a Kafka, KafkaTopic or KafkaUser Ready) or a JSONPath value.",
		Doc:     "A status.observedGeneration older than metadata.generation means the controller has not seen the latest change yet: the object is not ready then, whatever its conditions say.",
		Outputs: []Output{{"value", "The condition's status or the JSONPath value at the end."}},
	})
	Register(StepType{
		Name: StepSecretsCopy, Params: SecretsCopyParams{}, DefaultTimeout: 2 * time.Minute,
		Summary: "Copy a Secret (credentials, CA certificates) into another namespace or cluster under a new name and labels.",
		Doc:     "Values never leave the worker; outputs name keys only. Running it again updates the copy.",
		Outputs: []Output{{"keys", "Keys copied."}},
		Touches: func(with map[string]any, _ *Plan) []string { return []string{"kubernetes secrets"} },
	})
}
