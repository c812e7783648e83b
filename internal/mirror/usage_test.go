package mirror

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// usage measures one process over a copy: the CPU time it used (user and system) and the
// largest resident memory seen, sampled every 50 ms. The same for Ferry's process and for a
// MirrorMaker 2 worker JVM, so their costs compare.
type usage struct {
	pid  int
	cpu0 time.Duration
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func measure(pid int) *usage {
	u := &usage{pid: pid, cpu0: cpuTime(pid), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(u.done)
		for {
			if r := rss(pid); r > u.peak.Load() {
				u.peak.Store(r)
			}
			select {
			case <-u.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return u
}

// end stops sampling: the CPU time since measure, and the peak resident bytes.
func (u *usage) end() (time.Duration, int64) {
	close(u.stop)
	<-u.done
	return cpuTime(u.pid) - u.cpu0, u.peak.Load()
}

// cpuTime is a process's utime+stime from /proc (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at state: utime and stime
	// are fields 14 and 15 of the line, 12 and 13 after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rss is a process's resident memory in bytes from /proc.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
