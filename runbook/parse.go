package runbook

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadFile reads and validates a runbook file. The error, if any, is an Errors list.
func LoadFile(path string) (*Runbook, []byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, Errors{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	rb, err := Parse(path, src)
	return rb, src, err
}

// Parse decodes and validates one runbook. It reports every problem it finds, each with
// file, line, column and field path, as an Errors value.
func Parse(file string, src []byte) (*Runbook, error) {
	if len(src) > MaxRunbookBytes {
		return nil, Errors{{Pos: Pos{File: file}, Msg: fmt.Sprintf("the runbook is %d bytes; the most Ferry reads is %d", len(src), MaxRunbookBytes)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, Errors{syntaxError(file, src, err)}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{Pos: Pos{File: file, Line: 1, Column: 1}, Msg: "the runbook is empty"}}
	}
	if err := checkYAML(file, &doc); err != nil {
		return nil, err
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, Errors{{Pos: Pos{File: file, Line: root.Line, Column: root.Column}, Msg: "a runbook is a mapping with apiVersion, kind, metadata and steps, got " + kindName(root)}}
	}
	d := &decoder{file: file, at: map[string]Pos{}, refs: map[string][]string{
		"cluster": mappingKeys(root, "clusters"),
		"app":     mappingKeys(root, "apps"),
	}}
	rb := &Runbook{File: file, at: d.at}
	d.decode(root, "", reflect.ValueOf(rb).Elem())
	rb.Pos = d.pos(root)
	v := &validator{d: d, rb: rb}
	v.validate()
	if err := d.errs.Err(); err != nil {
		return rb, err
	}
	if err := checkSize(rb); err != nil {
		return rb, err
	}
	return rb, rb.checkDefaults(src)
}

// checkDefaults compiles the runbook with its params' defaults, so validate refuses what
// every run would: a template over the size limit or failing on the defaults. Params that
// need a value at run time are left out, and so are the templates that read them.
func (rb *Runbook) checkDefaults(src []byte) error {
	_, err := rb.Compile(src, nil, nil)
	var errs, left Errors
	if !errors.As(err, &errs) {
		return err
	}
	for _, e := range errs {
		if !strings.HasPrefix(e.Msg, requiredNoValue) {
			left = append(left, e)
		}
	}
	return left.Err()
}

// mappingKeys lists the keys of root[key] when it is a mapping, sorted.
func mappingKeys(root *yaml.Node, key string) []string {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != key {
			continue
		}
		m := resolveAlias(root.Content[i+1])
		if m.Kind != yaml.MappingNode {
			return nil
		}
		var out []string
		for j := 0; j+1 < len(m.Content); j += 2 {
			out = append(out, m.Content[j].Value)
		}
		sort.Strings(out)
		return out
	}
	return []string{}
}
