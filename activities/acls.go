package activities

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) aclsSteps() map[string]Step {
	return map[string]Step{runbook.StepACLsSync: a.aclsSync}
}

// aclsSync copies the origin's ACLs on replicated topics and groups to the target, with
// principals mapped and topics renamed as the replication names them. Creating an ACL that
// exists changes nothing, so running it twice is safe.
func (a *Activities) aclsSync(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.ACLsSyncParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	all := kadm.NewACLs().Topics().Groups().Allow().AllowHosts().Deny().DenyHosts().
		Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)
	described, err := f.Origin.DescribeACLs(ctx, all)
	if err == nil {
		for _, r := range described {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		return runbook.StepResult{}, fmt.Errorf("describe ACLs on %s: %w", f.Rep.Origin, err)
	}
	var created []string
	for _, r := range described {
		for _, d := range r.Described {
			if slices.Contains(p.Exclude, d.Principal) {
				continue
			}
			b, line, ok := targetACL(f.Rep, p.Principals, d)
			if !ok {
				continue
			}
			created = append(created, line)
			if p.DryRun {
				continue
			}
			res, err := f.Target.CreateACLs(ctx, b)
			if err == nil {
				for _, c := range res {
					if c.Err != nil {
						err = fmt.Errorf("%v %s", c.Err, c.ErrMessage)
					}
				}
			}
			if err != nil {
				return runbook.StepResult{}, fmt.Errorf("create ACL %s on %s: %w", line, f.Rep.Target, err)
			}
		}
	}
	sort.Strings(created)
	out := make([]any, len(created))
	for i, c := range created {
		out[i] = c
	}
	return runbook.StepResult{Outputs: map[string]any{"acls": out}}, nil
}

// targetACL builds the target's twin of an origin ACL, or reports that it is not one of
// the replicated topics and groups.
func targetACL(rep *runbook.Replication, principals map[string]string, d kadm.DescribedACL) (*kadm.ACLBuilder, string, bool) {
	name := d.Name
	literal := d.Pattern == kadm.ACLPatternLiteral && name != "*"
	b := kadm.NewACLs().ResourcePatternType(d.Pattern).Operations(d.Operation)
	switch d.Type {
	case kmsg.ACLResourceTypeTopic:
		if literal && !rep.Replicates(name) {
			return nil, "", false
		}
		if name != "*" {
			name = rep.TargetTopic(name)
		}
		b.Topics(name)
	case kmsg.ACLResourceTypeGroup:
		if literal && !rep.Groups.SelectGroup(name) {
			return nil, "", false
		}
		b.Groups(name)
	default:
		return nil, "", false
	}
	principal := d.Principal
	if m, ok := principals[principal]; ok {
		principal = m
	}
	if d.Permission == kmsg.ACLPermissionTypeDeny {
		b.Deny(principal).DenyHosts(d.Host)
	} else {
		b.Allow(principal).AllowHosts(d.Host)
	}
	return b, fmt.Sprintf("%s %s %s on %s %s (%s, host %s)", d.Permission, principal, d.Operation, d.Type, name, d.Pattern, d.Host), true
}
