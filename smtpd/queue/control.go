package queue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Requests from the command line to a running server travel as files in
// ctl/: the command writes NAME.req (atomically), the server acts on it,
// writes its answer to NAME.ans and removes the request. NAME is
// "VERB.TARGET.NONCE": VERB retry or delete, TARGET a queue id or "all".

const (
	reqSuffix = ".req"
	ansSuffix = ".ans"
)

// ErrNoServer: nobody answered a request in time.
var ErrNoServer = errors.New("queue: the server did not answer (is it running?)")

// ErrNotQueued: no message with that id is in the queue.
var ErrNotQueued = errors.New("queue: no such message in the queue")

// controlLoop answers requests until Shutdown.
func (q *Queue) controlLoop() {
	defer q.loops.Done()
	t := time.NewTicker(q.opts.ControlInterval)
	defer t.Stop()
	for {
		q.mu.Lock()
		closing := q.closing
		q.mu.Unlock()
		if closing {
			return
		}
		q.serveRequests()
		select {
		case <-t.C:
		case <-q.ctx.Done():
			return
		}
	}
}

// serveRequests handles the requests waiting in ctl/.
func (q *Queue) serveRequests() {
	ents, err := os.ReadDir(q.ctlDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), reqSuffix)
		if !ok {
			continue
		}
		verb, target, _ := parseRequestName(name)
		var answer string
		switch verb {
		case "retry":
			n, err := q.Retry(target)
			answer = answerText(fmt.Sprintf("%d message(s) will be tried now", n), err)
		case "delete":
			answer = answerText("deleted "+target, q.Delete(target))
		default:
			answer = answerText("", fmt.Errorf("unknown request %q", name))
		}
		q.log.Info("queue request", "request", verb, "target", target, "answer", answer)
		os.WriteFile(filepath.Join(q.ctlDir, name+ansSuffix), []byte(answer+"\n"), 0o600)
		os.Remove(filepath.Join(q.ctlDir, e.Name()))
	}
}

// answerText is the answer file's line: "ok: TEXT", "notqueued: ID" or
// "error: TEXT".
func answerText(ok string, err error) string {
	switch {
	case errors.Is(err, ErrNotQueued):
		return "notqueued: " + err.Error()
	case err != nil:
		return "error: " + err.Error()
	}
	return "ok: " + ok
}

func parseRequestName(name string) (verb, target, nonce string) {
	parts := strings.Split(name, ".")
	if len(parts) != 3 || (parts[1] != "all" && !validID(parts[1])) {
		return "", "", ""
	}
	return parts[0], parts[1], parts[2]
}

// Retry makes the queued recipients of message id (or of every message,
// for "all") due now, and returns how many messages that concerned.
func (q *Queue) Retry(target string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	n := 0
	for id, e := range q.entries {
		if target != "all" && id != target || e.deleted {
			continue
		}
		n++
		for _, j := range e.jobs {
			if j.hi >= 0 {
				j.at = now
				heap.Fix(&q.sched.waiting, j.hi)
			}
		}
	}
	if n == 0 && target != "all" {
		return 0, fmt.Errorf("%w: %s", ErrNotQueued, target)
	}
	q.kick()
	return n, nil
}

// Delete drops message id from the queue without telling its sender. An
// attempt in progress ends first; its result is not used.
func (q *Queue) Delete(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.entries[id]
	if e == nil || e.deleted {
		return fmt.Errorf("%w: %s", ErrNotQueued, id)
	}
	e.deleted = true
	for _, j := range e.jobs {
		q.unscheduleLocked(j)
	}
	e.jobs = nil
	q.dropIfGoneLocked(e)
	return nil
}

// Request asks the server running on the queue in dir to retry or delete
// (verb) a message or "all", and returns its answer. It waits at most
// until ctx ends; ErrNoServer then.
func Request(ctx context.Context, dir, verb, target string) (string, error) {
	if verb != "retry" && verb != "delete" {
		return "", fmt.Errorf("queue: unknown request %q", verb)
	}
	if target != "all" && !validID(target) || verb == "delete" && target == "all" {
		return "", fmt.Errorf("queue: %q is not a queue id", target)
	}
	ctl := filepath.Join(dir, "ctl")
	name := verb + "." + target + "." + randomID(8)
	fsys := realFS()
	tmp, err := fsys.writeTemp(ctl, "."+name+".tmp", nil)
	if err != nil {
		return "", err
	}
	if err := fsys.Commit(tmp, filepath.Join(ctl, name+reqSuffix)); err != nil {
		return "", err
	}
	ans := filepath.Join(ctl, name+ansSuffix)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if data, err := os.ReadFile(ans); err == nil {
			os.Remove(ans)
			status, text, _ := strings.Cut(strings.TrimSpace(string(data)), ": ")
			switch status {
			case "ok":
				return text, nil
			case "notqueued":
				return "", fmt.Errorf("%w: %s", ErrNotQueued, target)
			}
			return "", errors.New(text)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			os.Remove(filepath.Join(ctl, name+reqSuffix))
			return "", ErrNoServer
		}
	}
}
