package activities

import (
	"testing"
	"time"
)

// A month of samples every second fits in maxSeriesPoints, in time order, ending at the
// last sample, with the peak kept.
func TestSeriesStaysBounded(t *testing.T) {
	var s series
	start := time.Unix(1_700_000_000, 0)
	const n = 30 * 24 * 3600
	for i := range n {
		v := int64(n - i)
		if i == n/3 {
			v = 10 * n // a spike
		}
		s.add(start.Add(time.Duration(i)*time.Second), v)
	}
	out := s.output()
	if len(out) > maxSeriesPoints || len(out) < maxSeriesPoints/2 {
		t.Fatalf("%d points", len(out))
	}
	var peak, prev int64
	for i, p := range out {
		at, v := p.([]any)[0].(int64), p.([]any)[1].(int64)
		if i > 0 && at <= prev {
			t.Fatalf("point %d out of order", i)
		}
		prev = at
		peak = max(peak, v)
	}
	if last := out[len(out)-1].([]any); last[0] != start.Add((n-1)*time.Second).UnixMilli() || last[1] != int64(1) {
		t.Fatalf("last point %v, want the last sample as it was", last)
	}
	if peak != 10*n {
		t.Fatalf("the spike was smoothed away: peak %d", peak)
	}
}

// A wait's progress says how much of its starting lag is gone, the net rate and the ETA.
func TestCatchUp(t *testing.T) {
	p := catchUp(10_000, 2_500, 0, 3*time.Second)
	if p["done"] != int64(7_500) || p["total"] != int64(10_000) || p["rate"] != 2500.0 || p["eta"] != "1s" {
		t.Fatalf("%v", p)
	}
	if p := catchUp(10, 12, 100, time.Minute); p["done"] != nil {
		t.Fatalf("under maxLag from the start: %v", p)
	}
	if p := catchUp(100, 150, 0, time.Minute); p["done"] != int64(0) || p["rate"] != nil {
		t.Fatalf("growing lag: %v", p)
	}
}
