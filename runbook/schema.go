package runbook

import (
	"encoding/json"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Schema returns the JSON Schema (draft 2020-12) of a runbook, generated from the Go types
// and the step catalogue, for editors. `task schema` writes it to runbooks/.
func Schema() ([]byte, error) {
	defs := map[string]any{}
	root := schemaOf(reflect.TypeFor[Runbook](), defs, false)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://ferry.dev/schemas/runbook-v1alpha1.json"
	root["title"] = "Ferry runbook"
	var withs []any
	for _, t := range StepTypes() {
		with := map[string]any{"type": "null"}
		if t.Params != nil {
			with = schemaOf(reflect.TypeOf(t.Params), defs, true)
		}
		withs = append(withs, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"uses": map[string]any{"const": t.Name}}, "required": []string{"uses"}},
			"then": map[string]any{"properties": map[string]any{"with": with}},
		})
	}
	step := defs["Step"].(map[string]any)
	step["allOf"] = withs
	step["properties"].(map[string]any)["uses"] = map[string]any{"enum": stepTypeNames(), "description": "Step type (see ferry steps)."}
	root["$defs"] = defs
	return json.MarshalIndent(root, "", "  ")
}

var templateString = map[string]any{"type": "string", "pattern": `\$\{\{`}

// schemaOf describes a type. templates allows "${{ }}" strings in place of other values.
func schemaOf(t reflect.Type, defs map[string]any, templates bool) map[string]any {
	if t == nodePtrType {
		return map[string]any{}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[Duration]():
		return maybeTemplate(map[string]any{"type": "string", "pattern": `^([0-9]+d)?([0-9.]+(ns|us|µs|ms|s|m|h))*$`, "description": "A duration: 30s, 15m, 2h, 1d."}, templates)
	case reflect.TypeFor[Servers]():
		item := map[string]any{"type": "string", "pattern": `^[^,\s]+:[0-9]+(\s*,\s*[^,\s]+:[0-9]+)*$`}
		return map[string]any{"oneOf": []any{item, map[string]any{"type": "array", "items": item}}}
	case reflect.TypeFor[SecretRef]():
		if _, ok := defs["SecretRef"]; !ok {
			defs["SecretRef"] = nil
			s := structSchema(t, defs, false)
			s["oneOf"] = []any{
				map[string]any{"required": []string{"env"}},
				map[string]any{"required": []string{"file"}},
				map[string]any{"required": []string{"secret"}},
			}
			defs["SecretRef"] = s
		}
		return map[string]any{"$ref": "#/$defs/SecretRef"}
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.PkgPath() == reflect.TypeFor[Runbook]().PkgPath() && !templates && t != reflect.TypeFor[Runbook]() {
			if _, ok := defs[t.Name()]; !ok {
				defs[t.Name()] = nil // recursion guard (Step holds Steps)
				defs[t.Name()] = structSchema(t, defs, templates)
			}
			return map[string]any{"$ref": "#/$defs/" + t.Name()}
		}
		return structSchema(t, defs, templates)
	case reflect.Map:
		return maybeTemplate(map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), defs, templates)}, templates)
	case reflect.Slice:
		return maybeTemplate(map[string]any{"type": "array", "items": schemaOf(t.Elem(), defs, templates)}, templates)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return maybeTemplate(map[string]any{"type": "boolean"}, templates)
	case reflect.Int, reflect.Int32, reflect.Int64:
		return maybeTemplate(map[string]any{"type": "integer"}, templates)
	case reflect.Float64:
		return maybeTemplate(map[string]any{"type": "number"}, templates)
	}
	return map[string]any{}
}

func maybeTemplate(s map[string]any, templates bool) map[string]any {
	if !templates {
		return s
	}
	return map[string]any{"anyOf": []any{s, templateString}}
}

func structSchema(t reflect.Type, defs map[string]any, templates bool) map[string]any {
	props := map[string]any{}
	var required []string
	for _, fi := range structFields(t) {
		f := t.Field(fi.index)
		p := schemaOf(f.Type, defs, templates)
		if fi.key == plainKey && f.Type == reflect.TypeFor[*SecretRef]() {
			p = map[string]any{"anyOf": []any{map[string]any{"type": "string", "minLength": 1}, p}}
		}
		if doc := f.Tag.Get("doc"); doc != "" {
			p = withKey(p, "description", doc)
		}
		if fi.enum != nil {
			p = withKey(p, "enum", fi.enum)
		}
		props[fi.key] = p
		if fi.required {
			required = append(required, fi.key)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func withKey(s map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(s)+1)
	for kk, vv := range s {
		out[kk] = vv
	}
	out[k] = v
	return out
}

// ParamsDoc describes a step type's parameters, one line each, for ferry steps.
func ParamsDoc(t *StepType) []string {
	if t.Params == nil {
		return nil
	}
	var out []string
	rt := reflect.TypeOf(t.Params)
	for _, fi := range structFields(rt) {
		f := rt.Field(fi.index)
		line := fi.key + " (" + typeLabel(f.Type) + ")"
		if fi.required {
			line += ", required"
		}
		if doc := f.Tag.Get("doc"); doc != "" {
			line += ": " + doc
		}
		if fi.enum != nil {
			line += " One of " + strings.Join(fi.enum, ", ") + "."
		}
		out = append(out, line)
	}
	return out
}

func typeLabel(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[Duration]():
		return "duration"
	case reflect.TypeFor[Servers]():
		return "host:port list"
	case reflect.TypeFor[SecretRef]():
		return "secret reference"
	case reflect.TypeFor[yaml.Node]():
		return "any"
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeLabel(t.Elem())
	case reflect.Map:
		return "map of " + typeLabel(t.Elem())
	case reflect.Struct:
		return "mapping"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	case reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}
