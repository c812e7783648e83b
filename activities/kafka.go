package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) kafkaSteps() map[string]Step {
	return map[string]Step{runbook.StepKafkaCheck: a.kafkaCheck}
}

// conn returns a cluster's connection options and an admin client that answered.
func (a *Activities) conn(ctx context.Context, in runbook.StepInput, name string) ([]kgo.Opt, *kadm.Client, func(), error) {
	d := a.dialer()
	opts, err := d.Options(ctx, name, in.Clusters[name])
	if err != nil {
		return nil, nil, nil, badInput("%v", err)
	}
	cl, err := d.Connect(ctx, name, in.Clusters[name])
	if err != nil {
		return nil, nil, nil, err
	}
	return opts, kadm.NewClient(cl), cl.Close, nil
}

// openFlow connects to the replication's origin and target; close releases both.
func (a *Activities) openFlow(ctx context.Context, in runbook.StepInput) (f *flow.Flow, close func(), err error) {
	rep := in.Replication
	if rep == nil {
		return nil, nil, badInput("%s: the runbook has no replication: section", in.StepID)
	}
	f = &flow.Flow{Rep: rep, Exact: backendOf(rep.Engine).exactSyncs()}
	var closeO, closeT func()
	if f.OriginOpts, f.Origin, closeO, err = a.conn(ctx, in, rep.Origin); err != nil {
		return nil, nil, err
	}
	if f.TargetOpts, f.Target, closeT, err = a.conn(ctx, in, rep.Target); err != nil {
		closeO()
		return nil, nil, err
	}
	return f, func() { closeO(); closeT() }, nil
}

// flowStep decodes a step's parameters and connects to its replication's clusters.
func flowStep[T any](ctx context.Context, a *Activities, in runbook.StepInput) (T, *flow.Flow, func(), error) {
	p, err := decode[T](in)
	if err != nil {
		return p, nil, nil, err
	}
	f, closeFn, err := a.openFlow(ctx, in)
	return p, f, closeFn, err
}

// kafkaCheck checks every named cluster answers and allows what later steps need.
func (a *Activities) kafkaCheck(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.KafkaCheckParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	names := p.Clusters
	if len(names) == 0 && in.Replication != nil {
		names = []string{in.Replication.Origin, in.Replication.Target}
	}
	if len(names) == 0 {
		for n := range in.Clusters {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	brokers := map[string]any{}
	var problems []error
	for _, name := range names {
		_, adm, closeFn, err := a.conn(ctx, in, name)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		isTarget := in.Replication != nil && name == in.Replication.Target
		n, found := checkCluster(ctx, name, adm, isTarget)
		closeFn()
		brokers[name] = n
		problems = append(problems, found...)
	}
	if len(problems) > 0 {
		return runbook.StepResult{}, checkFailed(problems)
	}
	out := map[string]any{"brokers": brokers}
	if in.Replication != nil {
		// Whether the target can take what the replication copies (seed 004's prerequisites).
		f, closeFn, err := a.openFlow(ctx, in)
		if err != nil {
			return runbook.StepResult{}, err
		}
		c, err := f.Capacity(ctx)
		closeFn()
		if err != nil {
			return runbook.StepResult{}, err
		}
		if len(c.Problems) > 0 {
			return runbook.StepResult{}, badInput("the target cannot take the origin's topics: %s", strings.Join(c.Problems, "; "))
		}
		out["capacity"] = c.String()
	}
	return result(out)
}

// checkFailed reports every problem at once: transient while one of them may heal (a broker
// down now answers later), permanent when a person must act on all of them.
func checkFailed(problems []error) error {
	msgs := make([]string, len(problems))
	transient := false
	for i, p := range problems {
		msgs[i] = p.Error()
		transient = transient || isTransient(p)
	}
	if transient {
		return errors.New(strings.Join(msgs, "; "))
	}
	return badInput("%s", strings.Join(msgs, "; "))
}

// checkCluster counts a cluster's brokers and lists what it does not allow.
func checkCluster(ctx context.Context, name string, adm *kadm.Client, target bool) (int, []error) {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return 0, []error{fmt.Errorf("cluster %s: describe cluster: %w", name, err)}
	}
	var problems []error
	if _, err := adm.ListTopics(ctx); err != nil {
		problems = append(problems, fmt.Errorf("cluster %s: describe topics: %w", name, err))
	}
	if _, err := adm.ListGroups(ctx); err != nil {
		problems = append(problems, fmt.Errorf("cluster %s: list groups: %w", name, err))
	}
	if target {
		// Creating topics and committing offsets are what the target must allow.
		resp, err := adm.ValidateCreateTopics(ctx, 1, -1, nil, "ferry-permission-check")
		if err == nil {
			err = resp.Error()
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			problems = append(problems, fmt.Errorf("cluster %s: create topics not allowed: %w", name, err))
		}
	}
	return len(md.Brokers), problems
}
