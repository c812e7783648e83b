package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/runbook"
	"github.com/ferryhq/ferry/workflows"
)

var ferryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-bin-")
	if err != nil {
		panic(err)
	}
	ferryBin = filepath.Join(dir, "ferry")
	build := exec.Command("go", "build", "-o", ferryBin, "../../cmd/ferry")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ferry:", err)
		os.Exit(1)
	}
	code := m.Run()
	if kubeEnv != nil {
		kubeEnv.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs ferry against one state directory and port, as a user would.
type cli struct {
	t     *testing.T
	state string
	port  int
	ui    int // the Web UI's port; 0 serves none
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, state: t.TempDir(), port: freePort(t)}
}

func (c *cli) cmd(args ...string) *exec.Cmd {
	full := append([]string{"--state-dir", c.state, "--port", strconv.Itoa(c.port), "--ui-port", strconv.Itoa(c.ui)}, args...)
	cmd := exec.Command(ferryBin, full...)
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS=")
	return cmd
}

// run runs ferry to its end and returns its output and exit code. A failure's output
// includes the tail of the embedded server's log.
func (c *cli) run(args ...string) (string, int) {
	c.t.Helper()
	cmd := c.cmd(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if log, _ := os.ReadFile(filepath.Join(c.state, "temporal.log")); len(log) > 0 {
			if len(log) > 3000 {
				log = log[len(log)-3000:]
			}
			out.WriteString("\n--- temporal.log (tail) ---\n" + string(log))
		}
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return out.String(), 0
}

const gateRunbook = `apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: kill-test}
steps:
  - {id: prep, uses: noop}
  - {id: cutover_gate, uses: approval, with: {message: "cut over?"}}
  - {id: settle, uses: sleep, with: {duration: 1s}}
  - {id: done, uses: log, with: {message: "approved by ${{ steps.cutover_gate.outputs.approvedBy }}"}}
`

// TestCLIRunSurvivesKill9 is the user's story: ferry run stops at an approval gate, the
// process is killed with SIGKILL, and the run carries on with ferry approve and ferry resume
// on the same state directory.
func TestCLIRunSurvivesKill9(t *testing.T) {
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "kill.yaml")
	if err := os.WriteFile(file, []byte(gateRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := c.run("validate", file); code != 0 {
		t.Fatalf("validate: %d %s", code, out)
	}
	runner := c.cmd("run", "--id", "k9", file)
	var runOut bytes.Buffer
	runner.Stdout, runner.Stderr = &runOut, &runOut
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	defer runner.Process.Kill()

	deadline := time.Now().Add(60 * time.Second)
	for {
		out, code := c.run("status", "-o", "json", "k9")
		if code == 0 && strings.Contains(out, `"waiting": [`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never reached its gate; run output:\n%s\nstatus: %s", runOut.String(), out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The run keeps its phase and step in search attributes: list shows where it waits.
	listed := waitFor(t, 30*time.Second, func() (string, bool) {
		out, _ := c.run("list", "-o", "json", "--state", "waiting for approval")
		return out, strings.Contains(out, `"at": "cutover_gate"`) && strings.Contains(out, `"id": "k9"`)
	})
	if out, _ := c.run("list", "--state", "running"); !strings.Contains(out, "k9") {
		t.Fatalf("list --state running leaves out a run waiting for approval:\n%s\n(json: %s)", out, listed)
	}
	if err := runner.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = runner.Wait()

	out, code := c.run("approve", "--step", "cutover_gate", "--by", "ops", "k9")
	if code != 0 || !strings.Contains(out, "approved step cutover_gate") {
		t.Fatalf("approve after kill -9: %d %s", code, out)
	}
	out, code = c.run("resume", "k9")
	if code != 0 || !strings.Contains(out, "approved by ops") || !strings.Contains(out, "run k9 succeeded") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	out, code = c.run("list", "-o", "json")
	var runs []struct{ ID, Runbook, Status string }
	if err := json.Unmarshal([]byte(out), &runs); code != 0 || err != nil || len(runs) != 1 || runs[0].Status != "succeeded" || runs[0].Runbook != "kill-test" {
		t.Fatalf("list: %d %s", code, out)
	}
}

func TestCLIExitCodesAndErrors(t *testing.T) {
	c := newCLI(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: b}\nsteps:\n  - {id: a, uses: nope}\n"), 0o600)
	if out, code := c.run("validate", bad); code != 2 || !strings.Contains(out, `bad.yaml:5:19: steps[0].uses: unknown step type "nope"`) {
		t.Fatalf("validate bad: %d %s", code, out)
	}
	if out, code := c.run("run", bad); code != 2 || !strings.Contains(out, "unknown step type") {
		t.Fatalf("run bad: %d %s", code, out)
	}
	failing := filepath.Join(t.TempDir(), "fail.yaml")
	_ = os.WriteFile(failing, []byte(`apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: f}
steps:
  - {id: prep, uses: noop}
  - {id: check, uses: fail, with: {message: "lag too high"}}
rollback:
  - {id: undo, uses: log, undoes: prep, with: {message: undone}}
`), 0o600)
	out, code := c.run("run", "--id", "f1", failing)
	if code != 1 || !strings.Contains(out, "rolled back") || !strings.Contains(out, "lag too high") {
		t.Fatalf("failing run: %d %s", code, out)
	}
	if strings.Contains(out, "ferry: run f1") {
		t.Fatalf("the run's error was printed again on exit:\n%s", out)
	}
	waitFor(t, 30*time.Second, func() (string, bool) {
		out, _ := c.run("list", "--state", "rolled back")
		return out, strings.Contains(out, "f1")
	})
	if out, code := c.run("status", "nope"); code != 2 || !strings.Contains(out, `no run "nope"`) {
		t.Fatalf("status of a missing run: %d %s", code, out)
	}
	if out, code := c.run("approve", "f1"); code == 0 {
		t.Fatalf("approving a finished run succeeded: %s", out)
	}
	for _, limit := range []string{"-1", "0"} {
		if out, code := c.run("list", "--limit", limit); code != 2 || !strings.Contains(out, "give 1 or more") {
			t.Fatalf("list --limit %s: %d %s", limit, code, out)
		}
	}
	// An expression that would exhaust memory is refused before anything runs, and the state
	// directory stays usable.
	bomb := filepath.Join(t.TempDir(), "bomb.yaml")
	_ = os.WriteFile(bomb, []byte("apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: b}\nsteps:\n  - {id: a, uses: log, with: {message: '${{ len(reduce(1..40, #acc + #acc, \"a\")) }}'}}\n"), 0o600)
	for _, verb := range []string{"validate", "plan", "run"} {
		if out, code := c.run(verb, bomb); code != 2 || !strings.Contains(out, "cannot build ranges") {
			t.Fatalf("%s of an expression bomb: %d %s", verb, code, out)
		}
	}
	if out, code := c.run("list"); code != 0 || !strings.Contains(out, "f1") {
		t.Fatalf("list after the bomb: %d %s", code, out)
	}
}

func TestCLISchedule(t *testing.T) {
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "drill.yaml")
	_ = os.WriteFile(file, []byte("apiVersion: ferry.dev/v1alpha1\nkind: Runbook\nmetadata: {name: drill}\nsteps:\n  - {id: a, uses: noop}\n"), 0o600)
	// A server process keeps a worker up while the schedule fires. Wait for it to say it
	// serves: a command started earlier would start a short-lived server of its own.
	srv := c.cmd("server")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Temporal server on") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("ferry server exited before serving")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ferry server did not start in 60s")
	}
	deadline := time.Now().Add(60 * time.Second)
	if out, code := c.run("schedule", "create", "--every", "1h", "--paused", "weekly-drill", file); code != 0 {
		t.Fatalf("schedule create: %d %s", code, out)
	}
	if out, code := c.run("schedule", "trigger", "weekly-drill"); code != 0 {
		t.Fatalf("trigger: %d %s", code, out)
	}
	// The server's scheduler worker may take a while to start on a loaded machine.
	deadline = time.Now().Add(3 * time.Minute)
	for {
		out, _ := c.run("list", "-o", "json", "--runbook", "drill")
		if strings.Contains(out, `"status": "succeeded"`) {
			break
		}
		if time.Now().After(deadline) {
			desc, _ := c.run("schedule", "describe", "weekly-drill")
			t.Fatalf("the triggered drill never completed: %s\n%s", out, desc)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// On a loaded machine the server's scheduler workflow may be between task retries for a
	// while, and cannot be queried then: ask again.
	for {
		out, code := c.run("schedule", "describe", "weekly-drill")
		if code == 0 && strings.Contains(out, "paused: true") && strings.Contains(out, "runs so far: 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("describe: %d %s", code, out)
		}
		time.Sleep(time.Second)
	}
	// A schedule's report lists its runs (this drill measured nothing: a noop).
	out, code := c.run("report", "-o", "json", "weekly-drill")
	var rep struct {
		Schedule string
		Runbook  string
		History  []struct{ Run, Phase string }
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.Schedule != "weekly-drill" || rep.Runbook != "drill" ||
		len(rep.History) != 1 || rep.History[0].Phase != "succeeded" {
		t.Fatalf("report of the schedule: %d %v\n%s", code, err, out)
	}
	if out, code := c.run("report", "-o", "md", "no-such-thing"); code != 2 || !strings.Contains(out, `no run or schedule "no-such-thing"`) {
		t.Fatalf("report of nothing: %d %s", code, out)
	}
	if out, code := c.run("schedule", "delete", "weekly-drill"); code != 0 {
		t.Fatalf("delete: %d %s", code, out)
	}
}

// TestCLIDemo runs the README's first command's job: a live migration with 0 lost and 0
// duplicated records.
func TestCLIDemo(t *testing.T) {
	c := newCLI(t)
	cmd := c.cmd("demo", "--keep", "--records", "3000", "--rate", "300")
	cmd.Env = append(cmd.Env, "FERRY_STATE_DIR="+c.state)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"run demo-migrate succeeded", "duplicates consumed:               0", "records lost:                      0", "positions off by any record:       0"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out)
		}
	}
	// The demo leaves a report; what it says matches the run's own status.
	m := regexp.MustCompile(`embedded Temporal on 127\.0\.0\.1:(\d+), state in (\S+)\n[\s\S]*\nreport: (\S+)\n`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("the demo did not say where its state and report are:\n%s", out)
	}
	t.Cleanup(func() { os.RemoveAll(m[2]); os.RemoveAll(filepath.Dir(m[3])) })
	demo := &cli{t: t, state: m[2], port: atoi(t, m[1])}
	js, code := demo.run("status", "-o", "json", "demo-migrate")
	var st struct{ Status workflows.Status }
	if err := json.Unmarshal([]byte(js), &st); code != 0 || err != nil {
		t.Fatalf("status: %d %v\n%s", code, err, js)
	}
	want := []string{"demo-migrate", "succeeded", "Cutover pause", "Mirror lag", "Consumer groups moved", "Parity"}
	var started int
	for _, s := range st.Status.Steps {
		if s.StartedAt != nil {
			started++
		}
		switch s.Uses {
		case runbook.StepVerifyParity:
			want = append(want, fmt.Sprintf("Equal: %d records in %d partitions", int64(s.Outputs["records"].(float64)), int64(s.Outputs["partitions"].(float64))))
		case runbook.StepGroupsTranslate:
			for _, line := range s.Outputs["offsets"].([]any) {
				fields := strings.Fields(line.(string)) // group topic/p: origin -> target
				want = append(want, fields[2]+"\t"+fields[4])
			}
		}
	}
	page := browse(t, "file://"+m[3], "ferry-report-demo.png", "", want...)
	if !strings.Contains(page, "drain") || !strings.Contains(page, "parity") {
		t.Errorf("the report lacks steps:\n%.2000s", page)
	}
	shape := evaluate(t, "file://"+m[3], `JSON.stringify([document.querySelectorAll("#timeline rect").length, document.querySelectorAll("#lag-chart polyline").length, document.querySelectorAll("#groups tr").length - 1])`)
	if shape != fmt.Sprintf("[%d,1,%d]", started, strings.Count(strings.Join(want, "\n"), "\t")) {
		t.Errorf("report shape [timeline bars, lag lines, group rows] = %s; the run started %d steps", shape, started)
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCLIStatusShowsTheMirror: while a standby mirror runs, ferry status shows its progress
// on the mirror step — records copied, lag, and the last group sync.
func TestCLIStatusShowsTheMirror(t *testing.T) {
	origin, target := kfakeCluster(t), kfakeCluster(t)
	seedOrigin(t, origin)
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "standby.yaml")
	src := fmt.Sprintf(`apiVersion: ferry.dev/v1alpha1
kind: Runbook
metadata: {name: standby}
clusters:
  origin: {bootstrap: ["%s"]}
  target: {bootstrap: ["%s"]}
replication: {origin: origin, target: target, topics: {include: [orders]}, groups: {include: [billing]}, syncGroups: 200ms}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: keep, uses: approval, with: {message: "stop?"}}
`, origin, target)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	runner := c.cmd("run", "--id", "sb", file)
	runOut := &lockedBuffer{}
	runner.Stdout, runner.Stderr = runOut, runOut
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	defer runner.Process.Kill()
	// Only once ferry run hosts the embedded server: a ferry status started first would host
	// it, and take it away when it ends.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(runOut.String(), "waiting for approval") {
		if time.Now().After(deadline) {
			t.Fatalf("the run never reached its gate:\n%s", runOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		out, code := c.run("status", "sb")
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, " mirror ") {
				line = l
			}
		}
		if code == 0 && strings.Contains(line, "records=125") && strings.Contains(line, "lag=0") && strings.Contains(line, "groupSync=") {
			t.Logf("%s", line)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the mirror's progress:\n%s\nrun output:\n%s", out, runOut.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if out, code := c.run("approve", "--step", "keep", "sb"); code != 0 {
		t.Fatalf("approve: %d %s", code, out)
	}
	if err := runner.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, runOut.String())
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCLIRunOutlivesTheServerHost: ferry run watches a run served by a ferry server process;
// that process is killed; ferry run starts the embedded server itself and the run completes.
func TestCLIRunOutlivesTheServerHost(t *testing.T) {
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "gate.yaml")
	if err := os.WriteFile(file, []byte(gateRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor := func(out *lockedBuffer, what string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), what); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in:\n%s", what, out.String())
			}
		}
	}
	host := c.cmd("server")
	hostOut := &lockedBuffer{}
	host.Stdout, host.Stderr = hostOut, hostOut
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Process.Kill()
	waitFor(hostOut, "Ferry worker running")

	runner := c.cmd("run", "--id", "outlive", file)
	runOut := &lockedBuffer{}
	runner.Stdout, runner.Stderr = runOut, runOut
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	defer runner.Process.Kill()
	waitFor(runOut, "waiting for approval")
	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	waitFor(runOut, "this one hosts it now")
	if out, code := c.run("approve", "--step", "cutover_gate", "--by", "ops", "outlive"); code != 0 {
		t.Fatalf("approve: %d %s", code, out)
	}
	if err := runner.Wait(); err != nil || !strings.Contains(runOut.String(), "run outlive succeeded") {
		t.Fatalf("ferry run: %v\n%s", err, runOut.String())
	}
}

// Short commands that each start and stop an embedded server, many at once and one after
// another on one state directory, never trip over each other's ports ("address already in
// use" was seen once in 22 ferry status calls).
func TestCLIShortCommandsDoNotRaceForPorts(t *testing.T) {
	var wg sync.WaitGroup
	outs := make([]string, 6)
	codes := make([]int, 6)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], codes[i] = newCLI(t).run("list")
		}()
	}
	wg.Wait()
	c := newCLI(t)
	for range 5 {
		out, code := c.run("list")
		outs, codes = append(outs, out), append(codes, code)
	}
	for i, code := range codes {
		if code != 0 {
			t.Errorf("command %d exited %d:\n%s", i, code, outs[i])
		}
	}
}

// The CLI keeps the README's contract: one exit-code table for every command, -o text|json
// with [] for nothing, connection flags before or after the command, errors printed once
// without raw control characters, and a stuck run ended with ferry terminate, which status
// and history then report as such.
func TestCLIContract(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nosuch"}, 2, `no command "nosuch"`},
		{[]string{"list", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"list", "--limit", "abc"}, 2, `invalid value "abc" for flag -limit`},
		{[]string{"list", "-o", "yaml"}, 2, "-o yaml: give text or json"},
		{[]string{"completion", "fish"}, 2, "name a shell: bash or zsh"},
		{[]string{"completion", "bash"}, 0, "complete -o filenames -F _ferry ferry"},
		{[]string{"version"}, 0, "ferry "},
		{[]string{"--version"}, 0, "ferry version "},
		{[]string{"run", "--id", "a\u202eb\x1b[2J", "runbooks/approval-demo.yaml"}, 2, `--id a\u202eb\u001b[2J: character U+202E at byte 1 is not allowed`},
		{[]string{"run", "--id", strings.Repeat("r", 201), "runbooks/approval-demo.yaml"}, 2, "--id is 201 bytes; the most is 200"},
		{[]string{"list", "-o", "json"}, 0, "[]"},
	} {
		cmd := c.cmd(tc.args...)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("ferry %q: exit %d, want %d and %q in:\n%s", tc.args, code, tc.code, tc.want, out)
		}
		if strings.ContainsAny(string(out), "\u202e\x1b") {
			t.Errorf("ferry %q printed a raw control character: %q", tc.args, out)
		}
	}

	// Connection flags after the command, as --help shows them.
	after := exec.Command(ferryBin, "list", "--state-dir", c.state, "--port", strconv.Itoa(c.port), "-o", "json")
	after.Env = append(os.Environ(), "TEMPORAL_ADDRESS=")
	if out, err := after.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "[]" {
		t.Fatalf("ferry list --state-dir … --port … -o json: %v %s", err, out)
	}

	// A run left waiting, ended from outside: status, history and list say so; no rollback.
	gate := filepath.Join(t.TempDir(), "gate.yaml")
	_ = os.WriteFile(gate, []byte(gateRunbook), 0o600)
	if out, code := c.run("run", "--detach", "--id", "stuck", gate); code != 0 {
		t.Fatalf("run --detach: %d %s", code, out)
	}
	if out, code := c.run("terminate", "stuck"); code != 2 || !strings.Contains(out, "say why with -m") {
		t.Fatalf("terminate without a reason: %d %s", code, out)
	}
	if out, code := c.run("terminate", "-m", "wedged on a dead cluster", "stuck"); code != 0 || !strings.Contains(out, "no rollback ran") {
		t.Fatalf("terminate: %d %s", code, out)
	}
	out, code := c.run("status", "stuck")
	if code != 0 || !strings.Contains(out, "TERMINATED") || !strings.Contains(out, "wedged on a dead cluster; no rollback ran") || strings.Contains(out, "ferry approve") {
		t.Fatalf("status of a terminated run: %d %s", code, out)
	}
	if out, code := c.run("watch", "stuck"); code != 3 {
		t.Fatalf("watch of a terminated run: %d %s", code, out)
	}
	out, code = c.run("history", "-o", "json", "stuck")
	var events []struct {
		ID    int64  `json:"id"`
		Event string `json:"event"`
	}
	if err := json.Unmarshal([]byte(out), &events); code != 0 || err != nil || len(events) == 0 ||
		!strings.Contains(events[len(events)-1].Event, "run terminated by") || !strings.Contains(events[len(events)-1].Event, "wedged on a dead cluster") {
		t.Fatalf("history -o json: %d %v %s", code, err, out)
	}
	if out, code := c.run("list"); code != 0 || !strings.Contains(out, "terminated") {
		t.Fatalf("list: %d %s", code, out)
	}
	if out, code := c.run("list", "--state", "terminated", "-o", "json"); code != 0 || !strings.Contains(out, `"id": "stuck"`) {
		t.Fatalf("list --state terminated: %d %s", code, out)
	}
	if out, code := c.run("list", "--state", "running", "-o", "json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list --state running: %d %s", code, out)
	}
	if out, code := c.run("list", "--state", "done"); code != 2 || !strings.Contains(out, "--state done: give one of running, waiting for approval, paused, rolling back, succeeded, failed, rolled back") {
		t.Fatalf("list --state done: %d %s", code, out)
	}
}

// waitFor calls check until it reports done, failing the test with its last output after d.
func waitFor(t *testing.T, d time.Duration, check func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, ok := check()
		if ok {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s; last seen:\n%s", d, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
