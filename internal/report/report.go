// Package report turns a run's recorded state into evidence people read: the steps on a
// timeline, the mirror's lag over time, the cutover pause, every group's move, the parity
// table, drills' RPO and RTO, and a schedule's drill history. Everything comes from the
// run's status (step states and outputs), which the run keeps bounded however long it
// lasts: the lag series and the parity table are capped by the steps that record them.
package report

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

// Report is what ferry report writes, as HTML, Markdown or JSON.
type Report struct {
	Run         string    `json:"run"`
	Runbook     string    `json:"runbook"`
	Description string    `json:"description,omitempty"`
	Phase       string    `json:"phase"`
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended,omitzero"`
	Error       string    `json:"error,omitempty"`
	// Link is the run's page in the Temporal Web UI, when one is served.
	Link      string    `json:"link,omitempty"`
	Generated time.Time `json:"generated"`
	Steps     []Step    `json:"steps"`
	// Lag is the mirror's lag while mirror.wait steps waited for it.
	Lag    []Point     `json:"lag,omitempty"`
	Pause  *Pause      `json:"pause,omitempty"`
	Groups []GroupMove `json:"groups,omitempty"`
	Parity *Parity     `json:"parity,omitempty"`
	Drills []Drill     `json:"drills,omitempty"`
	// Failback is what a mirror.failback step found on the old primary.
	Failback *Failback `json:"failback,omitempty"`
	// Schedule and History are set for a schedule's report: its runs' drills, oldest first.
	Schedule string     `json:"schedule,omitempty"`
	History  []DrillRun `json:"history,omitempty"`
}

// Step is one step on the timeline.
type Step struct {
	ID       string        `json:"id"`
	Uses     string        `json:"uses,omitempty"`
	Depth    int           `json:"depth,omitempty"`
	Rollback bool          `json:"rollback,omitempty"`
	Status   string        `json:"status"`
	Started  time.Time     `json:"started,omitzero"`
	Ended    time.Time     `json:"ended,omitzero"`
	Duration time.Duration `json:"duration,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
	Error    string        `json:"error,omitempty"`
	// Note says what the step decided or found, in a few words (an approval's decider).
	Note string `json:"note,omitempty"`
}

// Point is a value at a time.
type Point struct {
	At    time.Time `json:"at"`
	Value int64     `json:"value"`
}

// Pause is the cutover's pause: from the start of the first step that scaled apps to zero
// to the end of the last step that brought them back.
type Pause struct {
	From, To         time.Time
	Duration         time.Duration
	Stopped, Resumed string // the step ids
}

// GroupMove is one group partition moved to the target at its exact position.
type GroupMove struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Origin    int64  `json:"origin"`
	Target    int64  `json:"target"`
}

// Parity is verify.parity's result.
type Parity struct {
	Step       string      `json:"step"`
	Partitions int64       `json:"partitions"`
	Records    int64       `json:"records"`
	Rows       []ParityRow `json:"rows,omitempty"`
	// Equal is false when the step failed: its error names the partitions that differ.
	Equal bool   `json:"equal"`
	Error string `json:"error,omitempty"`
}

// ParityRow is one partition compared: both sides held Records records with Digest.
type ParityRow struct {
	Origin     string `json:"origin"`
	Target     string `json:"target"`
	Records    int64  `json:"records"`
	Digest     string `json:"digest"`
	Timestamps bool   `json:"timestamps"`
}

// Failback is what mirror.failback found: the records to copy back, and those stranded on
// the old primary, per partition, and where they were kept.
type Failback struct {
	Step       string   `json:"step"`
	ToCopy     int64    `json:"toCopy"`
	Stranded   int64    `json:"stranded"`
	Partitions []string `json:"partitions,omitempty"`
	Kept       int64    `json:"kept"`
	KeptIn     []string `json:"keptIn,omitempty"`
}

// Drill is what a drill.measure step found.
type Drill struct {
	Step string `json:"step"`
	// RPO is the age of the oldest origin record not yet on the target.
	RPO time.Duration `json:"rpo"`
	// RTO is the read path's recovery time: the longest trial read at a group's position.
	RTO     time.Duration `json:"rto"`
	Lag     int64         `json:"lag"`
	Behind  int64         `json:"behind"`
	Missing int64         `json:"missing"`
	Passed  bool          `json:"passed"`
	Report  []string      `json:"report,omitempty"`
	Error   string        `json:"error,omitempty"`
}

// DrillRun is one run of a schedule with the drills it measured.
type DrillRun struct {
	Run     string    `json:"run"`
	Started time.Time `json:"started"`
	Phase   string    `json:"phase"`
	Drills  []Drill   `json:"drills,omitempty"`
}

// RPO is the run's worst measured RPO, and whether it measured any.
func (d DrillRun) RPO() (time.Duration, bool) {
	var worst time.Duration
	for _, dr := range d.Drills {
		worst = max(worst, dr.RPO)
	}
	return worst, len(d.Drills) > 0
}

// FromStatus builds the report of one run.
func FromStatus(st *workflows.Status, description, link string, now time.Time) *Report {
	r := &Report{
		Run: st.RunID, Runbook: st.Runbook, Description: description, Phase: string(st.Phase),
		Started: st.StartedAt, Ended: st.EndedAt, Error: st.Error, Link: link, Generated: now,
		Steps: []Step{},
	}
	var pauseFrom, pauseTo *workflows.StepState
	for _, ss := range st.Steps {
		if (ss.Rollback || ss.OnFailure) && ss.Status == workflows.StepPending {
			continue // a rollback or onFailure step that never ran is not part of what happened
		}
		r.Steps = append(r.Steps, step(ss))
		switch ss.Uses {
		case runbook.StepMirrorWait:
			r.Lag = append(r.Lag, points(ss.Outputs["lagSeries"])...)
		case runbook.StepAppsScale:
			if ss.Status != workflows.StepSucceeded || ss.Rollback {
				continue
			}
			now, prev := number(ss.Outputs["replicas"]), number(ss.Outputs["previous"])
			switch {
			case now == 0 && prev > 0 && pauseFrom == nil:
				pauseFrom = ss
			case now > 0 && prev == 0 && pauseFrom != nil:
				pauseTo = ss
			}
		case runbook.StepGroupsTranslate:
			r.Groups = append(r.Groups, moves(ss.Outputs["offsets"])...)
		case runbook.StepVerifyParity:
			if ss.Status == workflows.StepSucceeded || ss.Status == workflows.StepFailed {
				r.Parity = parity(ss)
			}
		case runbook.StepMirrorFailback:
			if ss.Status == workflows.StepSucceeded {
				r.Failback = &Failback{Step: ss.ID, ToCopy: number(ss.Outputs["toCopy"]), Stranded: number(ss.Outputs["stranded"]),
					Partitions: texts(ss.Outputs["strandedPartitions"]), Kept: number(ss.Outputs["kept"]), KeptIn: texts(ss.Outputs["keptIn"])}
			}
		case runbook.StepDrillMeasure:
			if ss.Status == workflows.StepSucceeded || ss.Status == workflows.StepFailed {
				r.Drills = append(r.Drills, drill(ss))
			}
		}
	}
	if pauseFrom != nil && pauseTo != nil && pauseFrom.StartedAt != nil && pauseTo.EndedAt != nil {
		r.Pause = &Pause{From: *pauseFrom.StartedAt, To: *pauseTo.EndedAt, Duration: pauseTo.EndedAt.Sub(*pauseFrom.StartedAt),
			Stopped: pauseFrom.ID, Resumed: pauseTo.ID}
	}
	slices.SortStableFunc(r.Lag, func(a, b Point) int { return a.At.Compare(b.At) })
	return r
}

func step(ss *workflows.StepState) Step {
	s := Step{ID: ss.ID, Uses: ss.Uses, Depth: ss.Depth, Rollback: ss.Rollback, Status: string(ss.Status),
		Attempts: ss.Attempts, Error: ss.LastError}
	if ss.StartedAt != nil {
		s.Started = *ss.StartedAt
	}
	if ss.EndedAt != nil {
		s.Ended = *ss.EndedAt
		if !s.Started.IsZero() {
			s.Duration = s.Ended.Sub(s.Started)
		}
	}
	if a := ss.Approval; a != nil {
		verb := "approved"
		if a.Reject {
			verb = "rejected"
		}
		s.Note = fmt.Sprintf("%s by %s", verb, cmp.Or(a.By, "someone"))
	}
	return s
}

// points reads a lagSeries output: [[unix milliseconds, records], ...].
func points(v any) []Point {
	list, _ := v.([]any)
	out := make([]Point, 0, len(list))
	for _, e := range list {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			continue
		}
		out = append(out, Point{At: time.UnixMilli(number(pair[0])), Value: number(pair[1])})
	}
	return out
}

// moveLine is groups.translate's offsets line: "group topic/p: origin -> target".
var moveLine = regexp.MustCompile(`^(\S+) (.+)/(\d+): (-?\d+) -> (-?\d+)$`)

func moves(v any) []GroupMove {
	list, _ := v.([]any)
	out := make([]GroupMove, 0, len(list))
	for _, e := range list {
		line, _ := e.(string)
		m := moveLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		p, _ := strconv.ParseInt(m[3], 10, 32)
		o, _ := strconv.ParseInt(m[4], 10, 64)
		t, _ := strconv.ParseInt(m[5], 10, 64)
		out = append(out, GroupMove{Group: m[1], Topic: m[2], Partition: int32(p), Origin: o, Target: t})
	}
	return out
}

func parity(ss *workflows.StepState) *Parity {
	p := &Parity{Step: ss.ID, Partitions: number(ss.Outputs["partitions"]), Records: number(ss.Outputs["records"]),
		Equal: ss.Status == workflows.StepSucceeded}
	if !p.Equal {
		p.Error = ss.LastError
	}
	rows, _ := ss.Outputs["table"].([]any)
	for _, e := range rows {
		m, _ := e.(map[string]any)
		origin, _ := m["origin"].(string)
		target, _ := m["target"].(string)
		digest, _ := m["digest"].(string)
		stamped, _ := m["timestamps"].(bool)
		p.Rows = append(p.Rows, ParityRow{Origin: origin, Target: target, Records: number(m["records"]), Digest: digest, Timestamps: stamped})
	}
	return p
}

func drill(ss *workflows.StepState) Drill {
	d := Drill{Step: ss.ID, Lag: number(ss.Outputs["lag"]), Behind: number(ss.Outputs["behind"]), Missing: number(ss.Outputs["missing"]),
		Passed: ss.Status == workflows.StepSucceeded}
	d.RPO = duration(ss.Outputs["rpo"])
	d.RTO = duration(ss.Outputs["readTime"])
	if lines, ok := ss.Outputs["report"].([]any); ok {
		for _, l := range lines {
			if s, ok := l.(string); ok {
				d.Report = append(d.Report, s)
			}
		}
	}
	if !d.Passed {
		d.Error = ss.LastError
	}
	return d
}

// number reads a JSON number (float64 after decoding; int64 before).
// texts reads a list of strings from outputs.
func texts(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func number(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case int64:
		return n
	case int:
		return int64(n)
	}
	return 0
}

func duration(v any) time.Duration {
	s, _ := v.(string)
	d, _ := runbook.ParseDuration(s) // "2d" too
	return time.Duration(d)
}
