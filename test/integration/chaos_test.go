package integration

import (
	"bytes"
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sandbox"
)

var (
	chaosSeed     = flag.Uint64("chaos.seed", 0, "seed of the kill moments; 0 takes one from the clock (every run prints its seed)")
	chaosKills    = flag.Int("chaos.kills", 3, "SIGKILLs of the ferry process in each runbook's run")
	chaosRunbooks = flag.String("chaos.runbooks", "migrate,failover", "sample runbooks with live apps (runbooks/NAME.yaml), comma-separated")
)

// TestChaos kills the process that hosts Ferry's worker and embedded Temporal server with
// SIGKILL at random moments of sample runbooks run against live apps, starts it again with
// ferry resume each time, and then checks the apps' ledger and every stopped group's
// position: nothing lost, nothing read twice, no group off by a record. The test command
// runs a short form; go tool task chaos runs more kills over more runbooks. Every run
// prints its seed: the same seed kills at the same moments of each process's life.
func TestChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("chaos seed %d (replay: go tool task chaos SEED=%d KILLS=%d RUNBOOKS=%s)", seed, seed, *chaosKills, *chaosRunbooks)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, name := range strings.Split(*chaosRunbooks, ",") {
		t.Run(name, func(t *testing.T) { chaos(t, name, rng, *chaosKills) })
	}
}

func chaos(t *testing.T, name string, rng *rand.Rand, kills int) {
	file, err := filepath.Abs(filepath.Join("..", "..", "runbooks", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("no sample runbook %s: %v", name, err)
	}
	estate, err := sandbox.StartEstate(context.Background(), 20000, 300)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(estate.Close)
	c := newCLI(t)
	if err := sandbox.Register(sandbox.RegistryFile(c.state), estate.Addrs()); err != nil {
		t.Fatal(err)
	}
	id := "chaos-" + name
	began := time.Now()
	p := c.start("run", "--auto-approve", "--id", id, file)
	for k := 1; k <= kills; k++ {
		// A life from 0.3 s (the server still starting) to 5 s (the whole migration runs in
		// about that long when nothing kills it).
		life := 300*time.Millisecond + time.Duration(rng.Int64N(int64(4700*time.Millisecond)))
		select {
		case <-p.done:
			t.Logf("kill %d: the run ended before it (%s)", k, p.lastLine())
		case <-time.After(life):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			t.Logf("kill %d: SIGKILL after %s; it last said: %s", k, life.Round(time.Millisecond), p.lastLine())
			// Killed before the run began, there is nothing to resume: run it again.
			if _, code := c.run("status", id); code == 2 {
				p = c.start("run", "--auto-approve", "--id", id, file)
			} else {
				p = c.start("resume", "--auto-approve", id)
			}
			continue
		}
		break
	}
	select {
	case <-p.done:
		if p.err != nil || !strings.Contains(p.out.String(), "run "+id+" succeeded") {
			status, _ := c.run("status", id)
			t.Fatalf("the run did not succeed after the kills (%v):\n%s\n%s", p.err, p.out.String(), status)
		}
	// Every activity heartbeats, so one lost with its worker runs again within its heartbeat
	// timeout (20 s for steps, a minute for mirror.start's deploy): a run still going five
	// minutes after the last kill is stuck.
	case <-time.After(5 * time.Minute):
		_ = p.cmd.Process.Kill()
		status, _ := c.run("status", id)
		t.Fatalf("the run did not end within 5 minutes of the last kill:\n%s", status)
	}
	var report bytes.Buffer
	ok, err := estate.Settle(context.Background(), &report, time.Since(began))
	t.Log(report.String())
	if err != nil || !ok {
		t.Fatalf("after %d kills the apps or the groups lost or doubled records (%v)", kills, err)
	}
}

// process is a ferry command running in the background.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed when it ended; err then says how
	err  error
}

// start starts ferry in the background.
func (c *cli) start(args ...string) *process {
	c.t.Helper()
	p := &process{cmd: c.cmd(args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p
}

// lastLine is the last thing the process printed, to say where a kill struck.
func (p *process) lastLine() string {
	lines := strings.Split(strings.TrimSpace(p.out.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
