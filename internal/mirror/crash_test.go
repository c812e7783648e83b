package mirror

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// runMirrorProcess is the test binary acting as a worker process that runs the mirror and
// prints its progress, until it is killed. FERRY_MIRROR_PROCESS is "origin,target".
func runMirrorProcess() {
	addrs := strings.Split(os.Getenv("FERRY_MIRROR_PROCESS"), ",")
	err := Run(context.Background(), Config{
		Origin: []kgo.Opt{kgo.SeedBrokers(addrs[0])}, Target: []kgo.Opt{kgo.SeedBrokers(addrs[1])},
		SyncTopic: mm2topic.OffsetSyncs("target"), ProgressInterval: 5 * time.Millisecond,
		Progress: func(p Progress) { fmt.Println(p.Records) },
	})
	fmt.Println("error", err)
	os.Exit(1)
}

// TestMirrorProcessKilledMidCopy kills the process running the mirror with SIGKILL while
// it copies transactional data, then resumes in another process: the target must hold
// every committed record exactly once, and translation stay exact.
func TestMirrorProcessKilledMidCopy(t *testing.T) {
	origin, target := cluster(t), cluster(t)
	createTopic(t, origin, "events", 4)
	produce(t, origin, "events", 4, 15_000, 0)
	produceTxn(t, origin, "events", 50, false, "aborted")
	produce(t, origin, "events", 4, 15_000, 15_000)
	addr := func(opts []kgo.Opt) string {
		cl := client(t, opts)
		return cl.OptValue(kgo.SeedBrokers).([]string)[0]
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FERRY_MIRROR_PROCESS="+addr(origin)+","+addr(target))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killedAt := int64(0)
	for sc.Scan() {
		n, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("mirror process: %s", sc.Text())
		}
		if n >= 40_000 {
			killedAt = n
			_ = cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	_ = cmd.Wait()
	if killedAt == 0 || killedAt >= 120_000 {
		t.Fatalf("the mirror was not killed mid-copy (at %d of 120000)", killedAt)
	}
	cfg := Config{Origin: origin, Target: target, SyncTopic: mm2topic.OffsetSyncs("target"), ProgressInterval: 10 * time.Millisecond}
	// The second run copies only what the first did not land.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	total := func() int64 {
		var n int64
		for p := range int32(4) {
			n += endOffset(t, target, Partition{"events", p})
		}
		return n
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	for total() < 120_000 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := total(); n != 120_000 {
		t.Fatalf("target holds %d records, want exactly 120000 (killed after %d acknowledged)", n, killedAt)
	}
	for p := range int32(4) {
		checkExact(t, origin, target, Partition{"events", p}, cfg.SyncTopic)
	}
}
