package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// A status that does not answer is asked again, once a second, until it answers; any other
// error, or a cancelled context, ends the asking at once.
func TestPatienceAsksAgainOnlyWhileStatusDoesNotAnswer(t *testing.T) {
	silent := cli.Exit("status does not answer", exitUnreachable)
	p := patience{id: "run-1", doing: "asking"}

	start := time.Now()
	if !p.again(context.Background(), silent) {
		t.Fatal("a silent status was not asked again")
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("asked again after %v, want about a second", waited)
	}
	if p.failing.IsZero() {
		t.Error("patience did not note since when status is silent")
	}
	if p.again(context.Background(), nil) || !p.failing.IsZero() {
		t.Error("an answer did not end the asking and reset patience")
	}
	if p.again(context.Background(), errors.New("no such run")) {
		t.Error("an error other than a silent status was asked again")
	}

	p.failing = time.Now().Add(-watchPatience - time.Second)
	if p.again(context.Background(), silent) {
		t.Error("asked again after patience ran out")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if p.again(ctx, silent) {
		t.Error("asked again after the context was cancelled")
	}
}
