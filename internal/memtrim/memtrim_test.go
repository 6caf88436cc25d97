package memtrim

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDecider(t *testing.T) {
	const k = 1 << 10
	d := newDecider(256*k, 4096*k, 0)
	steps := []struct {
		allocated uint64
		trim      bool
		why       string
	}{
		{100 * k, false, "quiet, but nothing worth returning"},
		{5000 * k, false, "busy"},
		{9000 * k, false, "still busy"},
		{9100 * k, true, "quiet after 9 MiB of work"},
		{9200 * k, false, "quiet, nothing new since the trim"},
		{12000 * k, false, "busy again"},
		{12100 * k, false, "quiet, but under 4 MiB since the trim"},
		{14000 * k, false, "busy"},
		{14000 * k, true, "quiet, 4.8 MiB since the trim"},
	}
	for i, s := range steps {
		if got := d.observe(s.allocated); got != s.trim {
			t.Fatalf("step %d (%s): trim %v, want %v", i, s.why, got, s.trim)
		}
	}
}

// Run trims once per quiet spell after work, through the real loop.
func TestRunTrimsOnceWhenQuiet(t *testing.T) {
	var allocated atomic.Uint64
	started := make(chan struct{})
	var once sync.Once
	read := func() uint64 { // the first read is Run's starting point
		once.Do(func() { close(started) })
		return allocated.Load()
	}
	trims := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		Run(ctx, Options{
			Interval:  5 * time.Millisecond,
			Quiet:     100,
			Worth:     1000,
			allocated: read,
			trim:      func() { trims <- struct{}{} },
		})
	}()
	defer func() { cancel(); wg.Wait() }()

	<-started
	allocated.Store(5000) // a burst of work, then quiet
	select {
	case <-trims:
	case <-time.After(10 * time.Second):
		t.Fatal("no trim after the work stopped")
	}
	// Quiet with nothing new: no further trim over many intervals.
	time.Sleep(50 * time.Millisecond)
	if n := len(trims); n != 0 {
		t.Fatalf("%d more trims with nothing allocated", n)
	}
}

// The real metric moves when the program allocates.
func TestHeapAllocatedMoves(t *testing.T) {
	before := heapAllocated()
	sink = make([]byte, 1<<20)
	if after := heapAllocated(); after < before+1<<20 {
		t.Fatalf("allocated %d then %d after a 1 MiB allocation", before, after)
	}
}

var sink []byte
