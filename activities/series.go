package activities

import "time"

// maxSeriesPoints bounds a recorded series: a step's outputs live in the run's history.
const maxSeriesPoints = 240

// series records a value over time in at most maxSeriesPoints points, however long it is
// fed: when full, neighbouring pairs merge (the later time, the larger value, so a peak is
// never smoothed away) and later samples are merged in groups as large, so a wait of a
// minute and one of a month both fit.
type series struct {
	points  [][2]int64 // unix milliseconds, value
	stride  int        // samples merged into one point
	pending int        // samples merged into the last point so far
	last    [2]int64   // the latest sample as it was
}

func (s *series) add(at time.Time, v int64) {
	if s.stride == 0 {
		s.stride = 1
	}
	p := [2]int64{at.UnixMilli(), v}
	s.last = p
	if s.pending > 0 && s.pending < s.stride {
		last := &s.points[len(s.points)-1]
		last[0], last[1] = p[0], max(last[1], v)
		s.pending++
		return
	}
	if len(s.points) == maxSeriesPoints {
		half := s.points[:0]
		for i := 0; i+1 < len(s.points); i += 2 {
			half = append(half, [2]int64{s.points[i+1][0], max(s.points[i][1], s.points[i+1][1])})
		}
		s.points = half
		s.stride *= 2
	}
	s.points = append(s.points, p)
	s.pending = 1
}

// output is the series as a step output, [[unix milliseconds, value], ...], ending with the
// latest sample as it was (the value a wait ended on).
func (s *series) output() []any {
	points := s.points
	if s.pending > 1 {
		points = append(points[:len(points)-1:len(points)-1], s.last)
	}
	out := make([]any, len(points))
	for i, p := range points {
		out[i] = []any{p[0], p[1]}
	}
	return out
}
