package runbook

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/internal/topicconf"
)

var (
	namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// Step ids and param names are identifiers so expressions can say steps.wait_lag.outputs.
	identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	runFields    = []string{"id", "runbook", "error"}
	stepFields   = []string{"outputs", "status"}
)

type validator struct {
	d   *decoder
	rb  *Runbook
	ids map[string]*Step // every step id, main and rollback
	// mainIDs are the ids of steps outside rollback.
	mainIDs map[string]bool
}

func (v *validator) errorf(path, format string, args ...any) {
	v.d.errs.add(v.posOf(path), path, format, args...)
}

// posOf finds the position of a path, or of its nearest parent that has one (a missing
// field is reported where its parent is).
func (v *validator) posOf(path string) Pos {
	for p := path; p != ""; {
		if pos, ok := v.d.at[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return v.rb.Pos
}

func (v *validator) validate() {
	rb := v.rb
	if rb.Metadata.Name != "" && !namePattern.MatchString(rb.Metadata.Name) {
		v.errorf("metadata.name", "%q is not a valid name: use lower-case letters, digits and dashes", rb.Metadata.Name)
	}
	for _, name := range sortedKeys(rb.Params) {
		v.param(name, rb.Params[name])
	}
	for _, name := range sortedKeys(rb.Clusters) {
		v.cluster(name, rb.Clusters[name])
	}
	for _, name := range sortedKeys(rb.Apps) {
		v.app(name, rb.Apps[name])
	}
	if r := rb.Replication; r != nil {
		if r.Origin != "" && r.Origin == r.Target {
			v.errorf("replication.target", "origin and target are the same cluster %q", r.Origin)
		}
		v.patterns(&r.Topics, "replication.topics")
		v.patterns(&r.Groups, "replication.groups")
		if r.Naming == NamingUnprefixed && r.Engine.Or() != EngineBuiltin {
			v.errorf("replication.naming", "unprefixed naming needs the builtin engine (MirrorMaker 2 has no policy for it)")
		}
		if rf := r.ReplicationFactor; rf != "" && rf != "origin" {
			if n, err := strconv.Atoi(rf); err != nil || n < 1 {
				v.errorf("replication.replicationFactor", "%q: want origin or a number from 1", rf)
			}
		}
		if sh := r.Shards; sh != "" && sh != ShardsAuto {
			if n, err := strconv.Atoi(sh); err != nil || n < 1 || n > MaxShards {
				v.errorf("replication.shards", "%q: want auto or a number from 1 to %d", sh, MaxShards)
			} else if n > 1 && r.Engine.Or() != EngineBuiltin {
				v.errorf("replication.shards", "shards split the builtin engine's copy; MirrorMaker 2 spreads its work with tasks")
			}
		}
		if sc := r.SyncConfigs; sc != nil {
			for i, k := range sc.Keys {
				if err := topicconf.Check(k); err != nil {
					v.errorf(indexPath("replication.syncConfigs.keys", i), "%v", err)
				}
			}
		}
		if r.Engine == EngineStrimzi && r.Strimzi == nil {
			v.errorf("replication.strimzi", "engine strimzi needs a strimzi: section (namespace at least)")
		}
		if r.Engine == EngineConnect && r.Connect == nil {
			v.errorf("replication.connect", "engine connect needs a connect: section (url at least)")
		}
		if c := r.Connect; c != nil {
			if u, err := url.Parse(c.URL); c.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				v.errorf("replication.connect.url", "%q is not an http:// or https:// URL", c.URL)
			} else if c.TLS != nil && u.Scheme != "https" {
				v.errorf("replication.connect.tls", "tls needs an https:// url (url is %q)", c.URL)
			}
			v.tls(c.TLS, "replication.connect.tls")
		}
	}

	v.ids = map[string]*Step{}
	v.mainIDs = map[string]bool{}
	v.collectIDs(rb.Steps, "steps", false)
	v.collectIDs(rb.Rollback, "rollback", true)
	v.collectIDs(rb.OnFailure, "onFailure", true)
	if rb.Steps != nil && len(rb.Steps) == 0 {
		v.errorf("steps", "a runbook needs at least one step")
	}
	done := map[string]bool{}
	v.sequence(rb.Steps, "steps", done, false)
	after := maps(v.mainIDs)
	v.sequence(rb.Rollback, "rollback", after, true)
	v.sequence(rb.OnFailure, "onFailure", maps(v.mainIDs), false)
}

func maps(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, b := range m {
		out[k] = b
	}
	return out
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (v *validator) param(name string, p *Param) {
	path := "params." + name
	if p == nil {
		v.errorf(path, "a param needs a mapping (type, default, description)")
		return
	}
	if !identPattern.MatchString(name) {
		v.errorf(path, "param name %q must be letters, digits and underscores (it is used as params.%s)", name, name)
	}
	if p.Required && p.Default != nil {
		v.errorf(path+".required", "a required param has no default")
	}
	if p.Default != nil {
		val, err := paramValue(p, nodeValue(p.Default))
		if err != nil {
			v.errorf(path+".default", "%v", err)
		} else if len(p.Enum) > 0 && !slices.Contains(p.Enum, fmt.Sprint(val)) {
			v.errorf(path+".default", "%v is not one of %s", val, strings.Join(p.Enum, ", "))
		}
	}
}

func (v *validator) cluster(name string, c *Cluster) {
	path := "clusters." + name
	if c == nil {
		v.errorf(path, "a cluster needs bootstrap servers or a sandbox name")
		return
	}
	switch {
	case len(c.Bootstrap) == 0 && c.Sandbox == "":
		v.errorf(path, "set bootstrap (host:port addresses) or sandbox")
	case len(c.Bootstrap) > 0 && c.Sandbox != "":
		v.errorf(path+".sandbox", "set bootstrap or sandbox, not both")
	}
	for i, b := range c.Bootstrap {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			v.errorf(indexPath(path+".bootstrap", i), "%q is not host:port", b)
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			v.errorf(indexPath(path+".bootstrap", i), "%q: port must be a number from 1 to 65535", b)
		}
	}
	v.tls(c.TLS, path+".tls")
}

func (v *validator) tls(t *TLS, path string) {
	if t != nil && (t.Cert == nil) != (t.Key == nil) {
		v.errorf(path, "cert and key go together")
	}
}

func (v *validator) app(name string, a *App) {
	path := "apps." + name
	if a == nil {
		v.errorf(path, "an app needs a kind and a name or selector")
		return
	}
	if a.Kind == "" {
		v.errorf(path, "kind is missing (Deployment, StatefulSet or sandbox)")
	}
	if a.Name == "" && len(a.Selector) == 0 {
		v.errorf(path, "set name or selector")
	}
	if a.Name != "" && len(a.Selector) > 0 {
		v.errorf(path+".selector", "set name or selector, not both")
	}
	if c := a.Connection; c != nil {
		if a.Kind == AppSandbox {
			v.errorf(path+".connection", "sandbox apps are repointed through the sandbox; connection is for Kubernetes apps")
		} else if c.Env == "" && c.ConfigMap == nil && len(c.SecretEnv) == 0 {
			v.errorf(path+".connection", "set env, configMap or secretEnv")
		}
	}
}

func (v *validator) patterns(p *Patterns, path string) {
	for key, list := range map[string][]string{"include": p.Include, "exclude": p.Exclude} {
		for i, re := range list {
			if _, err := regexp.Compile("^(?:" + re + ")$"); err != nil {
				v.errorf(indexPath(path+"."+key, i), "invalid regular expression: %v", err)
			}
		}
	}
}

func (v *validator) collectIDs(steps []*Step, path string, rollback bool) {
	for i, s := range steps {
		if s == nil {
			continue
		}
		sp := indexPath(path, i)
		if s.ID != "" {
			if !identPattern.MatchString(s.ID) {
				v.errorf(sp+".id", "step id %q must be letters, digits and underscores (it is used as steps.%s)", s.ID, s.ID)
			}
			if prev, dup := v.ids[s.ID]; dup {
				v.errorf(sp+".id", "duplicate step id %q (first at line %d)", s.ID, prev.Pos.Line)
			} else {
				v.ids[s.ID] = s
				if !rollback {
					v.mainIDs[s.ID] = true
				}
			}
		}
		v.collectIDs(s.Parallel, sp+".parallel", rollback)
	}
}

// sequence checks steps that run one after another; done holds the ids that have run before.
func (v *validator) sequence(steps []*Step, path string, done map[string]bool, rollback bool) {
	for i, s := range steps {
		if s == nil {
			v.errorf(indexPath(path, i), "empty step")
			continue
		}
		v.step(s, indexPath(path, i), done, rollback, path == "steps")
		v.markDone(s, done)
	}
}

func (v *validator) markDone(s *Step, done map[string]bool) {
	if s.ID != "" {
		done[s.ID] = true
	}
	for _, c := range s.Parallel {
		if c != nil {
			v.markDone(c, done)
		}
	}
}

func (v *validator) step(s *Step, path string, done map[string]bool, rollback, topLevel bool) {
	if s.EndWith != "" && s.Parallel == nil {
		v.errorf(path+".endWith", "only a parallel block ends with one of its steps")
	}
	switch {
	case s.Uses == "" && s.Parallel == nil:
		v.errorf(path, "a step needs uses: (a step type) or parallel: (a block of steps)")
	case s.Uses != "" && s.Parallel != nil:
		v.errorf(path+".parallel", "a step has uses: or parallel:, not both")
	}
	if s.PointOfNoReturn && (rollback || !topLevel) {
		v.errorf(path+".pointOfNoReturn", "only a top-level step under steps: can be the point of no return")
	}
	switch {
	case s.Undoes != "" && !rollback:
		v.errorf(path+".undoes", "undoes: belongs to steps under rollback:")
	case s.Undoes != "" && !v.mainIDs[s.Undoes]:
		v.errorf(path+".undoes", "unknown step %q (known: %s)", s.Undoes, strings.Join(sortedKeys(v.mainIDs), ", "))
	}
	if s.Retry != nil && s.Retry.MaxAttempts < 1 {
		v.errorf(path+".retry.maxAttempts", "must be at least 1 (the first attempt counts)")
	}
	if s.When != "" {
		v.expression(s.When, path+".when", done, true)
	}
	if s.Parallel != nil {
		if s.With != nil {
			v.errorf(path+".with", "a parallel block takes no with:")
		}
		if len(s.Parallel) == 0 {
			v.errorf(path+".parallel", "a parallel block needs at least one step")
		}
		if s.EndWith != "" && !slices.ContainsFunc(s.Parallel, func(c *Step) bool { return c != nil && c.ID == s.EndWith }) {
			var ids []string
			for _, c := range s.Parallel {
				if c != nil {
					ids = append(ids, c.ID)
				}
			}
			v.errorf(path+".endWith", "%q is not a step of this block (its steps: %s)", s.EndWith, strings.Join(ids, ", "))
		}
		// Steps of one block cannot see each other's outputs: they run at the same time.
		for i, c := range s.Parallel {
			if c == nil {
				v.errorf(indexPath(path+".parallel", i), "empty step")
				continue
			}
			v.step(c, indexPath(path+".parallel", i), maps(done), rollback, false)
		}
		return
	}
	if s.Uses == "" {
		return
	}
	t, ok := Lookup(s.Uses)
	if !ok {
		v.errorf(path+".uses", "unknown step type %q (known: %s)", s.Uses, strings.Join(stepTypeNames(), ", "))
		return
	}
	if t.NeedsReplication && v.rb.Replication == nil {
		v.errorf(path+".uses", "step type %s needs a replication: section (origin, target, topics)", t.Name)
	}
	v.with(s, t, path+".with", done)
}

// with decodes a step's parameters into its type's struct, and checks its templates.
func (v *validator) with(s *Step, t *StepType, path string, done map[string]bool) {
	if s.With == nil || isNull(s.With) {
		if t.Params != nil {
			v.requiredOnly(t, path)
		}
		return
	}
	if t.Params == nil {
		v.errorf(path, "step type %s takes no parameters", t.Name)
		return
	}
	d := &decoder{file: v.d.file, templates: true, refs: v.d.refs}
	d.decode(s.With, path, reflect.New(reflect.TypeOf(t.Params)).Elem())
	v.d.errs = append(v.d.errs, d.errs...)
	v.templates(s.With, path, done)
}

// requiredOnly reports the required parameters of a step written without with:.
func (v *validator) requiredOnly(t *StepType, path string) {
	for _, f := range structFields(reflect.TypeOf(t.Params)) {
		if f.required {
			v.errorf(path, "step type %s needs with: %s", t.Name, f.key)
			return
		}
	}
}

func (v *validator) templates(n *yaml.Node, path string, done map[string]bool) {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			v.templates(n.Content[i+1], joinPath(path, n.Content[i].Value), done)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			v.templates(c, indexPath(path, i), done)
		}
	case yaml.ScalarNode:
		if !isTemplate(n) {
			return
		}
		segs, err := splitTemplate(n.Value)
		if err != nil {
			v.d.errs.add(v.d.pos(n), path, "%v", err)
			return
		}
		for _, seg := range segs {
			if seg.expr {
				v.exprAt(seg.text, v.d.pos(n), path, done)
			}
		}
	}
}

func (v *validator) expression(code, path string, done map[string]bool, condition bool) {
	pos := v.posOf(path)
	if HasTemplate(code) {
		segs, err := splitTemplate(code)
		if err != nil {
			v.d.errs.add(pos, path, "%v", err)
			return
		}
		if condition && (len(segs) != 1 || !segs[0].expr) {
			v.d.errs.add(pos, path, "a condition is one expression: write it bare or as a single ${{ }}")
			return
		}
		for _, seg := range segs {
			if seg.expr {
				v.exprAt(seg.text, pos, path, done)
			}
		}
		return
	}
	v.exprAt(code, pos, path, done)
}

// exprAt checks an expression's syntax and that every name it reads exists and has run.
func (v *validator) exprAt(code string, pos Pos, path string, done map[string]bool) {
	chains, err := references(code)
	if err != nil {
		v.d.errs.add(pos, path, "invalid expression %q: %s", code, firstLine(err.Error()))
		return
	}
	for _, ch := range chains {
		if msg := v.reference(ch, done); msg != "" {
			v.d.errs.add(pos, path, "%s", msg)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// reference explains what is wrong with a name chain, or returns "".
func (v *validator) reference(ch []string, done map[string]bool) string {
	name := strings.Join(ch, ".")
	switch ch[0] {
	case "params":
		if len(ch) < 2 {
			return ""
		}
		if _, ok := v.rb.Params[ch[1]]; !ok {
			if len(v.rb.Params) == 0 {
				return fmt.Sprintf("unknown param %q in %s (the runbook defines no params)", ch[1], name)
			}
			return fmt.Sprintf("unknown param %q in %s (known: %s)", ch[1], name, strings.Join(sortedKeys(v.rb.Params), ", "))
		}
	case "steps":
		if len(ch) < 2 {
			return ""
		}
		s, ok := v.ids[ch[1]]
		switch {
		case !ok:
			return fmt.Sprintf("unknown step %q in %s", ch[1], name)
		case !done[ch[1]]:
			return fmt.Sprintf("step %q has not run at this point in %s (it comes later, or runs in the same parallel block)", ch[1], name)
		}
		if len(ch) < 3 {
			return ""
		}
		if !slices.Contains(stepFields, ch[2]) {
			return fmt.Sprintf("a step has %s, not %q, in %s", strings.Join(stepFields, " and "), ch[2], name)
		}
		if ch[2] == "outputs" && len(ch) >= 4 && s.Uses != "" {
			if t, ok := Lookup(s.Uses); ok && !t.Control || ok && len(t.Outputs) > 0 {
				if !slices.ContainsFunc(t.Outputs, func(o Output) bool { return o.Name == ch[3] }) {
					return fmt.Sprintf("step %q (%s) has no output %q in %s (outputs: %s)", ch[1], s.Uses, ch[3], name, outputNames(t))
				}
			}
		}
	case "run":
		if len(ch) >= 2 && !slices.Contains(runFields, ch[1]) {
			return fmt.Sprintf("run has %s, not %q", strings.Join(runFields, ", "), ch[1])
		}
	default:
		return fmt.Sprintf("unknown name %q (expressions read params.<name>, steps.<id>.outputs.<name>, steps.<id>.status, run.id, run.error)", ch[0])
	}
	return ""
}

func outputNames(t *StepType) string {
	if len(t.Outputs) == 0 {
		return "none"
	}
	names := make([]string, len(t.Outputs))
	for i, o := range t.Outputs {
		names[i] = o.Name
	}
	return strings.Join(names, ", ")
}
