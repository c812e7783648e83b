package runbook

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "90s", "15m", "36h" or "2d" (days of 24 hours).
type Duration time.Duration

// ParseDuration accepts Go durations plus a "d" unit for days, e.g. "1d12h".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return Duration(days), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 15m, 2h, 1d)", s)
	}
	return Duration(days + d), nil
}

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string {
	td := time.Duration(d)
	if td >= 24*time.Hour && td%(24*time.Hour) == 0 {
		return strconv.Itoa(int(td/(24*time.Hour))) + "d"
	}
	return td.String()
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64 // also accept nanoseconds
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return err
		}
		*d = Duration(n)
		return nil
	}
	v, err := ParseDuration(s)
	*d = v
	return err
}

func (d *Duration) decodeYAML(dec *decoder, n *yaml.Node, path string) {
	if dec.templates && isTemplate(n) {
		return
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		dec.errorf(n, path, "want a duration such as 30s, 15m or 2h, got %s", kindName(n))
		return
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		dec.errorf(n, path, "%v", err)
		return
	}
	if v < 0 {
		dec.errorf(n, path, "duration must not be negative")
		return
	}
	*d = v
}

// Servers is a list of host:port addresses. People write it as Kafka's own clients do, one
// string split by commas ("a:9092,b:9092"), or as a YAML list; both read the same, and a list
// item holding commas is split too, so neither form reaches a dialer as one bogus host name.
type Servers []string

func (s *Servers) decodeYAML(d *decoder, n *yaml.Node, path string) {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return
		}
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		d.errorf(n, path, "want host:port addresses as a list or one string split by commas, got %s", kindName(n))
		return
	}
	out := Servers{}
	for i, it := range items {
		it = resolveAlias(it)
		if it.Kind != yaml.ScalarNode || isNull(it) {
			d.errorf(it, indexPath(path, i), "want a host:port address, got %s", kindName(it))
			continue
		}
		for _, addr := range strings.FieldsFunc(it.Value, func(r rune) bool { return r == ',' || r == ' ' }) {
			if d.at != nil {
				d.at[indexPath(path, len(out))] = d.pos(it)
			}
			out = append(out, addr)
		}
	}
	*s = out
}

// SecretRef says where a secret lives. Exactly one source is set. The value is read on the
// worker when a step needs it and never enters workflow inputs, history or logs.
type SecretRef struct {
	Env    string   `yaml:"env" json:"env,omitempty" doc:"Name of an environment variable on the worker."`
	File   string   `yaml:"file" json:"file,omitempty" doc:"Path of a file on the worker; trailing newlines are trimmed."`
	Secret *KubeKey `yaml:"secret" json:"secret,omitempty" doc:"A key of a Kubernetes Secret."`
	// Value is a user name written as is (username: alice). User names are not secret, and
	// some have no Secret key of their own (a Strimzi KafkaUser's name is its user name).
	Value string `yaml:"-" json:"value,omitempty"`
	Pos   Pos    `yaml:"-" json:"-"`
}

// plainKey is the one key whose reference may be written as a plain value.
const plainKey = "username"

// KubeKey names one key of a Kubernetes Secret.
type KubeKey struct {
	Namespace string `yaml:"namespace" json:"namespace,omitempty" doc:"Namespace of the Secret; the worker's own when empty."`
	Name      string `yaml:"name" json:"name" ferry:"required" doc:"Name of the Secret."`
	Key       string `yaml:"key" json:"key" ferry:"required" doc:"Key inside the Secret."`
	Context   string `yaml:"context" json:"context,omitempty" doc:"Kubeconfig context; the current one when empty."`
}

func (s *SecretRef) decodeYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if strings.HasSuffix(path, "."+plainKey) {
			s.Value, s.Pos = n.Value, d.pos(n)
			return
		}
		d.errorf(n, path, "a secret must be a reference (env, file or secret), never a literal value")
		return
	}
	type plain SecretRef
	d.decodeStruct(n, path, reflect.ValueOf((*plain)(s)).Elem())
	s.Pos = d.pos(n)
	set := 0
	for _, v := range []bool{s.Env != "", s.File != "", s.Secret != nil} {
		if v {
			set++
		}
	}
	if set != 1 && n.Kind == yaml.MappingNode {
		d.errorf(n, path, "set exactly one of env, file or secret")
	}
}

// Describe says where the secret comes from, without its value.
func (s *SecretRef) Describe() string {
	switch {
	case s == nil:
		return ""
	case s.Value != "":
		return s.Value
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	case s.Secret != nil:
		ns := s.Secret.Namespace
		if ns == "" {
			ns = "(worker namespace)"
		}
		return "secret:" + ns + "/" + s.Secret.Name + "#" + s.Secret.Key
	}
	return ""
}
