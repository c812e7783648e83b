package activities

import (
	"cmp"
	"context"
	"slices"

	"github.com/ferryhq/ferry/runbook"
)

// mirrorFailback prepares the mirror back to the old primary, and keeps stranded records aside
// when told to.
func (a *Activities) mirrorFailback(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.MirrorFailbackParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	f.Progress = func(d map[string]any) { progress(ctx, d) }
	b, err := f.PrepareFailback(ctx, cmp.Or(p.Alias, in.Replication.Target))
	if err != nil {
		return runbook.StepResult{}, err
	}
	lines := make([]string, 0, len(b.Stranded))
	for _, s := range b.Stranded {
		lines = append(lines, s.String())
	}
	out := map[string]any{"toCopy": b.ToCopy, "stranded": b.StrandedRecords(), "strandedPartitions": lines,
		"topic": b.Topic, "syncs": b.Syncs, "kept": 0, "keptIn": []string{}}
	if p.Stranded == runbook.StrandedKeep && len(b.Stranded) > 0 {
		suffix := cmp.Or(p.StrandedSuffix, runbook.DefaultStrandedSuffix)
		kept, err := f.KeepStranded(ctx, b.Stranded, suffix)
		if err != nil {
			return runbook.StepResult{}, err
		}
		var in []string
		for _, s := range b.Stranded {
			if !slices.Contains(in, s.Topic+suffix) {
				in = append(in, s.Topic+suffix)
			}
		}
		out["kept"], out["keptIn"] = kept, in
	}
	return result(out)
}
