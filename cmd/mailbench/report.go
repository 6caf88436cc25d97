package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"
)

// reporter prints figures as "name value unit" lines, one per figure. The
// name is <workload>[-<tag>]_<metric>, with no spaces, so that a script
// can split lines on white space.
type reporter struct {
	mu       sync.Mutex
	w        io.Writer
	tag      string
	workload string
}

func newReporter(w io.Writer, tag string) *reporter {
	return &reporter{w: w, tag: tag}
}

func (r *reporter) name(metric string) string {
	n := r.workload
	if r.tag != "" {
		n += "-" + r.tag
	}
	return n + "_" + metric
}

// figure prints a measured value with three decimals.
func (r *reporter) figure(metric string, v float64, unit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	fmt.Fprintf(r.w, "%s %.3f %s\n", r.name(metric), v, unit)
}

// count prints an exact count.
func (r *reporter) count(metric string, v int64, unit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "%s %d %s\n", r.name(metric), v, unit)
}

// ms prints a duration in milliseconds.
func (r *reporter) ms(metric string, d time.Duration) {
	r.figure(metric, float64(d)/float64(time.Millisecond), "ms")
}

// rate prints n per second over d.
func (r *reporter) rate(metric string, n float64, d time.Duration, unit string) {
	if d <= 0 {
		r.figure(metric, 0, unit)
		return
	}
	r.figure(metric, n/d.Seconds(), unit)
}

// megabytes per second: MB is 10^6 bytes.
func (r *reporter) mbps(metric string, bytes int64, d time.Duration) {
	r.rate(metric, float64(bytes)/1e6, d, "MB/s")
}

// medianDur is the median of ds (the mean of the middle two for an even
// count). ds is sorted in place.
func medianDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	m := len(ds) / 2
	if len(ds)%2 == 1 {
		return ds[m]
	}
	return (ds[m-1] + ds[m]) / 2
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// syncWriter serialises writes from concurrent goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
