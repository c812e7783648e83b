package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/workflows"
)

// A replication whose origin and target are one cluster under two names is refused at
// mirror.start, by cluster id, before anything is copied.
func TestMirrorRefusesTheSameClusterTwice(t *testing.T) {
	addr := kfakeCluster(t)
	seedOrigin(t, addr)
	e := start(t, "", newSteps())
	p := plan(t, fmt.Sprintf(`clusters:
  origin: {bootstrap: "%s"}
  alias_of_origin: {bootstrap: "localhost:%s"}
replication: {origin: origin, target: alias_of_origin, topics: {include: [orders]}}
steps:
  - {id: mirror, uses: mirror.start}
`, addr, addr[strings.LastIndex(addr, ":")+1:]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := e.run("loop", workflows.Input{Plan: p}).Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "origin origin and target alias_of_origin are the same Kafka cluster (cluster id") {
		t.Fatalf("a mirror onto its own origin: %v", err)
	}
	if st := step(e.status("loop"), "mirror"); st.Status != workflows.StepFailed || st.Outputs != nil {
		t.Fatalf("mirror: %s %v", st.Status, st.Outputs)
	}
}
