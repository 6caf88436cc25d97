package queue

import (
	"container/heap"
	"slices"
	"time"
)

// job is one attempt to be made: the recipients of one message that share
// a next hop (a domain's MX hosts, a route, or the smarthost), so that one
// SMTP transaction carries them all. A local job (key "") only sends the
// notifications that a failed store write left pending.
type job struct {
	id  string
	key string // routeKey of its recipients; "" for a local job
	idx []int  // indexes into the record's Rcpts
	at  time.Time
	hi  int // index in the waiting heap; -1 when not in it
}

// scheduler is the delivery plan; Queue.mu guards it.
//
// Jobs wait in a heap by time; when due they move to ready[key], where
// workers for that key take them. A worker keeps its connection for the
// next job of the same key, up to MaxMessagesPerConn, so a burst to one
// domain goes over few connections. There are at most
// MaxConnectionsPerHost workers per key and MaxConnections in all; a
// worker whose limit keeps another key from starting gives way after its
// current job.
type scheduler struct {
	waiting jobHeap
	ready   map[string][]*job
	active  map[string]int // workers per key
	total   int
}

func (s *scheduler) init() {
	s.ready = map[string][]*job{}
	s.active = map[string]int{}
}

type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h jobHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hi, h[j].hi = i, j
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.hi = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.hi = -1
	return j
}

// scheduleLocked plans e's pending work: one job per next hop for its
// queued recipients (at the earliest of their next times), a local job
// for notifications not yet sent, and a local job at the time the delay
// warning falls due (now, if it is past), so that the warning goes out
// on time and not only with the next attempt, which may be hours later.
// It is called once per message and run (at Submit, at load). Queue.mu
// is held.
func (q *Queue) scheduleLocked(e *entry, now time.Time) {
	e.mu.Lock()
	groups := map[string]*job{}
	var keys []string
	notify := false
	for i := range e.rec.Rcpts {
		r := &e.rec.Rcpts[i]
		switch {
		case r.Status == StatusQueued:
			key := q.routeKey(r.Addr)
			j := groups[key]
			if j == nil {
				j = &job{id: e.id, key: key, at: r.Next, hi: -1}
				groups[key] = j
				keys = append(keys, key)
			}
			j.idx = append(j.idx, i)
			if r.Next.Before(j.at) {
				j.at = r.Next
			}
		case r.Status == StatusFailed && !r.Notified:
			notify = true
		}
	}
	var warnAt time.Time
	if q.opts.DelayWarning > 0 && !e.rec.Warned && len(keys) > 0 {
		warnAt = e.rec.Created.Add(q.opts.DelayWarning)
		if warnAt.Before(now) {
			warnAt = now
		}
	}
	e.mu.Unlock()
	for _, k := range keys {
		q.pushLocked(e, groups[k])
	}
	if notify {
		q.pushLocked(e, &job{id: e.id, at: now, hi: -1})
	}
	if !warnAt.IsZero() && !(notify && warnAt.Equal(now)) {
		// The local job finds the warning due (warnDueLocked) unless
		// the message was delivered first.
		q.pushLocked(e, &job{id: e.id, at: warnAt, hi: -1})
	}
}

// pushLocked adds a job to the waiting heap. Queue.mu is held.
func (q *Queue) pushLocked(e *entry, j *job) {
	e.jobs = append(e.jobs, j)
	heap.Push(&q.sched.waiting, j)
}

// kick wakes the timer loop to look at the plan again.
func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// timerLoop moves due jobs to ready and starts workers, sleeping until the
// next job is due or the plan changes.
func (q *Queue) timerLoop() {
	defer q.loops.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		q.mu.Lock()
		if q.closing {
			q.mu.Unlock()
			return
		}
		now := time.Now()
		for len(q.sched.waiting) > 0 && !q.sched.waiting[0].at.After(now) {
			j := heap.Pop(&q.sched.waiting).(*job)
			if j.key == "" {
				q.startLocalLocked(j)
				continue
			}
			q.sched.ready[j.key] = append(q.sched.ready[j.key], j)
		}
		q.dispatchLocked()
		wait := time.Hour
		if len(q.sched.waiting) > 0 {
			wait = q.sched.waiting[0].at.Sub(now)
		}
		q.mu.Unlock()
		t.Reset(wait)
		select {
		case <-t.C:
		case <-q.wake:
		}
	}
}

// dispatchLocked starts workers for ready jobs within the limits.
// Queue.mu is held.
func (q *Queue) dispatchLocked() {
	if !q.started || q.closing {
		return
	}
	// Keys without a worker first, so that a busy domain cannot starve
	// the others when the total limit is reached.
	keys := make([]string, 0, len(q.sched.ready))
	for k, l := range q.sched.ready {
		if len(l) > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return q.sched.active[a] - q.sched.active[b] })
	for _, k := range keys {
		want := min(len(q.sched.ready[k]), q.opts.MaxConnectionsPerHost-q.sched.active[k])
		for ; want > 0 && q.sched.total < q.opts.MaxConnections; want-- {
			q.sched.active[k]++
			q.sched.total++
			q.workers.Add(1)
			go q.runWorker(k)
		}
	}
}

// take gives a worker of key its next job, or nil when it should stop
// (nothing ready, shutting down, or giving way to a starving key). A
// worker's first take never gives way, so every worker started does at
// least one job and the giving way cannot go round in circles.
func (q *Queue) take(key string, first bool) *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closing && len(q.sched.ready[key]) > 0 && (first || !q.starvingLocked(key)) {
		j := q.sched.ready[key][0]
		q.sched.ready[key] = q.sched.ready[key][1:]
		e := q.entries[j.id]
		if e == nil || e.deleted {
			continue
		}
		e.jobs = slices.DeleteFunc(e.jobs, func(x *job) bool { return x == j })
		e.running++
		return j
	}
	return nil
}

// release ends a worker of key once its connection is closed, so that
// the limits count connections, and starts what is waiting.
func (q *Queue) release(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.sched.ready[key]) == 0 {
		delete(q.sched.ready, key)
	}
	q.sched.active[key]--
	if q.sched.active[key] <= 0 {
		delete(q.sched.active, key)
	}
	q.sched.total--
	q.dispatchLocked()
}

// starvingLocked reports whether the total limit is reached while another
// key has ready jobs and no worker.
func (q *Queue) starvingLocked(key string) bool {
	if q.sched.total < q.opts.MaxConnections {
		return false
	}
	for k, l := range q.sched.ready {
		if k != key && len(l) > 0 && q.sched.active[k] == 0 {
			return true
		}
	}
	return false
}

// requeueLocked ends a job's run: the recipients still queued get a new
// job at their next time, and a message that is gone or deleted leaves
// the queue. Queue.mu is held.
func (q *Queue) requeueLocked(e *entry, retry []int, at time.Time, local bool) {
	e.running--
	e.mu.Lock()
	removed := e.removed
	e.mu.Unlock()
	if !e.deleted && !removed && q.entries[e.id] == e {
		if len(retry) > 0 {
			q.pushLocked(e, &job{id: e.id, key: q.routeKeyIdx(e, retry[0]), idx: retry, at: at, hi: -1})
		}
		if local {
			q.pushLocked(e, &job{id: e.id, at: time.Now().Add(q.opts.RetryMin), hi: -1})
		}
	}
	q.dropIfGoneLocked(e)
}

// dropIfGoneLocked forgets a message whose files are gone, or removes a
// deleted one once nothing runs for it. Queue.mu is held.
func (q *Queue) dropIfGoneLocked(e *entry) {
	e.mu.Lock()
	if e.deleted && e.running == 0 && !e.removed {
		if err := q.removeFiles(e, true); err != nil {
			q.log.Error("cannot remove deleted message", "id", e.id, "err", err)
		}
	}
	removed := e.removed
	e.mu.Unlock()
	if removed && e.running == 0 {
		for _, j := range e.jobs {
			q.unscheduleLocked(j)
		}
		e.jobs = nil
		if q.entries[e.id] == e {
			delete(q.entries, e.id)
		}
	}
}

// unscheduleLocked takes a job out of the heap or the ready lists.
func (q *Queue) unscheduleLocked(j *job) {
	if j.hi >= 0 {
		heap.Remove(&q.sched.waiting, j.hi)
		return
	}
	if l := q.sched.ready[j.key]; l != nil {
		q.sched.ready[j.key] = slices.DeleteFunc(l, func(x *job) bool { return x == j })
	}
}

// routeKeyIdx is the route key of recipient i of e.
func (q *Queue) routeKeyIdx(e *entry, i int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return q.routeKey(e.rec.Rcpts[i].Addr)
}

// startLocalLocked runs a local job (pending notifications) in its own
// goroutine; it makes no connection and is not counted in the limits.
func (q *Queue) startLocalLocked(j *job) {
	e := q.entries[j.id]
	if e == nil || e.deleted {
		return
	}
	e.jobs = slices.DeleteFunc(e.jobs, func(x *job) bool { return x == j })
	e.running++
	q.workers.Add(1)
	go func() {
		defer q.workers.Done()
		e.mu.Lock()
		pending := q.notifyLocked(e, time.Now())
		e.mu.Unlock()
		q.mu.Lock()
		q.requeueLocked(e, nil, time.Time{}, pending)
		q.mu.Unlock()
		q.kick()
	}()
}
