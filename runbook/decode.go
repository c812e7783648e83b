package runbook

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder turns YAML nodes into Go values by reflection and keeps going after a problem,
// so one pass reports every unknown field, wrong type and missing value with its position.
//
// Struct tags it reads:
//
//	yaml:"name"        the field's key (yaml:"-" skips it)
//	ferry:"required"   the key must be present
//	enum:"a,b,c"       a string must be one of these
//	doc:"..."          documentation, used by the JSON Schema and `ferry steps`
//
// A field named Pos of type Pos receives the position of the value it belongs to.
type decoder struct {
	file string
	errs Errors
	// templates accepts "${{ expr }}" for any field: the value is known only later.
	templates bool
	// refs holds the names fields tagged ref:"cluster" or ref:"app" may use; nil skips the check.
	refs map[string][]string
	// at records the position of every value by its field path, for checks after decoding.
	at map[string]Pos
}

// yamlDecoder is implemented by types that decode themselves.
type yamlDecoder interface {
	decodeYAML(d *decoder, n *yaml.Node, path string)
}

var (
	posType         = reflect.TypeFor[Pos]()
	yamlDecoderType = reflect.TypeFor[yamlDecoder]()
	nodePtrType     = reflect.TypeFor[*yaml.Node]()
)

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.add(d.pos(n), path, format, args...)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func isTemplate(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "${{")
}

// kindName says what a node is, for error messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!int":
		return "an integer (" + n.Value + ")"
	case "!!float":
		return "a number (" + n.Value + ")"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	}
	return strconv.Quote(n.Value)
}

func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolveAlias(n)
	if n == nil {
		return
	}
	if d.at != nil {
		d.at[path] = d.pos(n)
	}
	if v.Type() == nodePtrType {
		v.Set(reflect.ValueOf(n))
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(yamlDecoderType) {
		v.Addr().Interface().(yamlDecoder).decodeYAML(d, n, path)
		return
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
		return
	}
	if v.Kind() == reflect.Interface {
		v.Set(reflect.ValueOf(nodeValue(n)))
		return
	}
	if d.templates && isTemplate(n) {
		return // checked as an expression elsewhere; typed when resolved
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.errorf(n, path, "want a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.errorf(n, path, "want true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || v.OverflowInt(i) {
			d.errorf(n, path, "want an integer, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.errorf(n, path, "want a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "cannot decode into %s", v.Type())
	}
}

type fieldInfo struct {
	index    int
	key      string
	required bool
	enum     []string
	ref      string
}

func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "-" || key == "" || !f.IsExported() {
			continue
		}
		fi := fieldInfo{index: i, key: key, required: f.Tag.Get("ferry") == "required", ref: f.Tag.Get("ref")}
		if e := f.Tag.Get("enum"); e != "" {
			fi.enum = strings.Split(e, ",")
		}
		out = append(out, fi)
	}
	return out
}

func fieldKeys(fields []fieldInfo) string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return strings.Join(keys, ", ")
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
		f.Set(reflect.ValueOf(d.pos(n)))
	}
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
		} else {
			d.errorf(n, path, "want a mapping, got %s", kindName(n))
			return
		}
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := joinPath(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, fp, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		idx := slices.IndexFunc(fields, func(f fieldInfo) bool { return f.key == k.Value })
		if idx < 0 {
			d.errorf(k, fp, "unknown field %q (known: %s)", k.Value, fieldKeys(fields))
			continue
		}
		f := fields[idx]
		d.decode(val, fp, v.Field(f.index))
		if f.ref != "" {
			d.checkRef(f.ref, resolveAlias(val), fp)
		}
		if f.enum != nil && v.Field(f.index).Kind() == reflect.String {
			if s := v.Field(f.index).String(); s != "" && !slices.Contains(f.enum, s) && !(d.templates && isTemplate(val)) {
				d.errorf(val, fp, "%q is not one of %s", s, strings.Join(f.enum, ", "))
			}
		}
	}
	for _, f := range fields {
		if f.required && !seen[f.key] {
			d.errorf(n, joinPath(path, f.key), "required field is missing")
		}
	}
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := joinPath(path, k.Value)
		if v.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, fp, "duplicate key %q", k.Value)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, fp, elem)
		v.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, indexPath(path, i), s.Index(i))
	}
	v.Set(s)
}

// nodeValue turns a node into plain Go values: map[string]any, []any, string, int, float64, bool, nil.
func nodeValue(n *yaml.Node) any {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return nodeValue(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = nodeValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = nodeValue(c)
		}
		return l
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		b, _ := strconv.ParseBool(n.Value)
		return b
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return int(i)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	return n.Value
}

// checkRef reports names that are not among the runbook's clusters or apps.
func (d *decoder) checkRef(kind string, n *yaml.Node, path string) {
	known, ok := d.refs[kind]
	if !ok || n == nil {
		return
	}
	check := func(n *yaml.Node, path string) {
		if n.Kind != yaml.ScalarNode || isNull(n) || isTemplate(n) || slices.Contains(known, n.Value) {
			return
		}
		if len(known) == 0 {
			d.errorf(n, path, "unknown %s %q (the runbook defines no %ss)", kind, n.Value, kind)
			return
		}
		d.errorf(n, path, "unknown %s %q (known: %s)", kind, n.Value, strings.Join(known, ", "))
	}
	if n.Kind == yaml.SequenceNode {
		for i, c := range n.Content {
			check(resolveAlias(c), indexPath(path, i))
		}
		return
	}
	check(n, path)
}
