package imapd

import (
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
)

// IDLE (RFC 2177, RFC 9051 §6.3.13) without a goroutine per idling
// session.
//
// The library runs Session.Idle on a goroutine of its own and writes the
// tagged OK once Idle has returned and the client has sent DONE. An Idle
// that waited for DONE would keep that goroutine, and its stack (4 KiB), for
// as long as the client idles; ours returns at once. From then on the
// session is woken instead: by the store, through the folder's
// SetNotifyFunc, and by a timer every IdlePoll (for files other programs
// put into the Maildir). Each wake-up polls on a goroutine of its own that
// ends when the updates are written.
//
// The IDLE ends when the library has read the client's next line: it
// closes stop then, and no wake-up writes after that. The session's next
// command, the Poll that follows DONE included, and Close call endIdle
// first, which waits for a wake-up in progress, so the selection is only
// ever touched by one goroutine at a time, as before. An EXPUNGE is thus
// only ever sent during the IDLE command (RFC 9051 §7.5.1).

// Idle starts the IDLE and tells the client what it has not been told yet.
func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	ss.idleMu.Lock()
	defer ss.idleMu.Unlock()
	if stopped(stop) {
		// The IDLE is over already (the client's next line came at once
		// and was not DONE, and the library did not wait for us).
		return nil
	}
	if !ss.markIdling(true) {
		return nil // the connection is closing
	}
	if ss.sel == nil {
		return nil // nothing to tell: RFC 2177 allows IDLE when authenticated
	}
	ss.sel.folder.SetNotifyFunc(ss.wake)
	if err := ss.pollLocked(w, true); err != nil {
		ss.sel.folder.SetNotifyFunc(nil)
		return err // the library answers it after DONE, as before
	}
	ss.idleW, ss.idleStop = w, stop
	if ss.idleTick == nil {
		ss.idleTick = time.AfterFunc(ss.srv.opts.IdlePoll, ss.idleTicked)
	} else {
		ss.idleTick.Reset(ss.srv.opts.IdlePoll)
	}
	return nil
}

// wake is the selected folder's notify function. The store calls it with
// its lock held, so it only starts the poll; a wake-up already waiting to
// poll will see this change too.
func (ss *session) wake() {
	if ss.wakeQueued.CompareAndSwap(false, true) {
		go ss.idleWake()
	}
}

func (ss *session) idleWake() {
	ss.idleMu.Lock()
	defer ss.idleMu.Unlock()
	ss.wakeQueued.Store(false) // changes from now on need another poll
	ss.idlePollLocked()
}

// idleTicked polls every IdlePoll while the IDLE lasts.
func (ss *session) idleTicked() {
	ss.idleMu.Lock()
	defer ss.idleMu.Unlock()
	if ss.idlePollLocked() {
		ss.idleTick.Reset(ss.srv.opts.IdlePoll)
	}
}

// idlePollLocked tells an idling client what changed; it reports whether
// the IDLE goes on. ss.idleMu is held.
func (ss *session) idlePollLocked() bool {
	if ss.idleW == nil || stopped(ss.idleStop) {
		return false
	}
	if ss.accountRemoved() != nil {
		// Removed while idling: the BYE is out and the connection
		// closes, as at a command (session.go).
		ss.stopIdleLocked()
		return false
	}
	if err := ss.pollLocked(ss.idleW, true); err != nil {
		// As when Idle returned an error: no more updates in this IDLE.
		// The Poll after DONE looks again (and ends the connection if
		// the store still fails, like any failed Poll).
		ss.log.Debug("idle: poll failed", "err", err)
		ss.stopIdleLocked()
		return false
	}
	return true
}

// endIdle ends the IDLE, if there is one, for the session's goroutine:
// it waits for a wake-up in progress and stops those to come.
func (ss *session) endIdle() {
	ss.idleMu.Lock()
	ss.stopIdleLocked()
	ss.idleMu.Unlock()
	ss.markIdling(false)
}

// stopIdleLocked stops the wake-ups. ss.idleMu is held.
func (ss *session) stopIdleLocked() {
	if ss.idleW == nil {
		return
	}
	ss.idleW, ss.idleStop = nil, nil
	ss.idleTick.Stop()
	if ss.sel != nil {
		ss.sel.folder.SetNotifyFunc(nil)
	}
}

// markIdling records whether the session is in IDLE, for Shutdown; IDLE
// counts as activity that restarts the autologout timer, which runs
// during IDLE. It reports false if the session is closed.
func (ss *session) markIdling(on bool) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if on && ss.closed {
		return false
	}
	was := ss.idling
	ss.idling = on
	if on {
		ss.activity++
	}
	if (on || was) && ss.timer != nil && !ss.closed {
		ss.timer.Reset(ss.srv.opts.IdleTimeout)
	}
	return true
}

// stopped reports whether the library has closed IDLE's stop channel.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
