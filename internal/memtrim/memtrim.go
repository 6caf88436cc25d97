// Package memtrim gives memory back to the system when the server goes
// quiet after work.
//
// A garbage-collected process holds more than it uses: after a collection
// the runtime lets the heap grow to twice what was live before it collects
// again (GOGC=100), and it returns freed pages to the system only slowly.
// For a mail server that is busy in bursts (a batch of logins, a client
// syncing a big folder) and then idles with many connections open, that
// is memory held for nothing, and on a small machine it is what the admin
// sees in top. When the server has allocated little for a whole interval
// after allocating enough since the last trim to be worth it, Run collects
// and returns the free pages (runtime/debug.FreeOSMemory). While the
// server is busy nothing is done, so the cost (one collection) is paid
// once per quiet spell, never per request.
//
// It is not a limit: a server that needs the memory grows again at once.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options tune Run; the zero value takes the defaults below.
type Options struct {
	Interval time.Duration // how often to look; default 1 s
	// Quiet is the allocation in one interval under which the server
	// counts as quiet; default 256 KiB.
	Quiet uint64
	// Worth is how much must have been allocated since the last trim
	// for another to be worth a collection; default 4 MiB.
	Worth uint64

	Log *slog.Logger // one Debug line per trim; nil: none

	// Seams for tests: the cumulative bytes allocated, and the trim.
	allocated func() uint64
	trim      func()
}

const (
	defaultInterval = time.Second
	defaultQuiet    = 256 << 10
	defaultWorth    = 4 << 20
)

// decider is the rule of Run, apart from clocks and the runtime: it is fed
// the cumulative allocation once per interval and says when to trim.
type decider struct {
	quiet, worth uint64
	last         uint64 // cumulative allocation at the previous look
	trimmedAt    uint64 // cumulative allocation at the last trim (or start)
}

func newDecider(quiet, worth, start uint64) *decider {
	return &decider{quiet: quiet, worth: worth, last: start, trimmedAt: start}
}

// observe takes the cumulative allocation now and reports whether to trim.
func (d *decider) observe(allocated uint64) bool {
	busy := allocated-d.last >= d.quiet
	d.last = allocated
	if busy || allocated-d.trimmedAt < d.worth {
		return false
	}
	d.trimmedAt = allocated
	return true
}

// Run looks every interval until ctx ends.
func Run(ctx context.Context, o Options) {
	if o.Interval <= 0 {
		o.Interval = defaultInterval
	}
	if o.Quiet == 0 {
		o.Quiet = defaultQuiet
	}
	if o.Worth == 0 {
		o.Worth = defaultWorth
	}
	if o.allocated == nil {
		o.allocated = heapAllocated
	}
	if o.trim == nil {
		o.trim = debug.FreeOSMemory
	}
	d := newDecider(o.Quiet, o.Worth, o.allocated())
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !d.observe(o.allocated()) {
			continue
		}
		start := time.Now()
		o.trim()
		if o.Log != nil {
			o.Log.Debug("memory returned to the system", "took_ms", time.Since(start).Milliseconds())
		}
		// The trim's own collection allocates a little: start the next
		// interval from after it.
		d.last = o.allocated()
		d.trimmedAt = d.last
	}
}

// heapAllocated is the cumulative bytes the program has allocated on the
// heap (runtime/metrics, cheap to read: no stop of the world).
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
