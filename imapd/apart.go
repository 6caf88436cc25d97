package imapd

import (
	"fmt"
	"runtime/debug"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
)

// The library serves each connection on one goroutine and calls the
// session's methods on it. A command that goes deep (a login's password
// hash, SELECT opening the store, FETCH parsing a message) grows that
// goroutine's stack from 4 to 8 KiB or more, and it stays grown for the
// life of the connection: the runtime halves a stack at GC only while less
// than a quarter of it is in use, and the library's own frames while it
// waits for the next line (or for DONE in IDLE) take about 1.8 KiB plus
// the 0.8 KiB guard. So every connection, idle ones included, would keep
// 8 KiB of stack.
//
// apartSession is what the library is given instead of the session: each
// method that does work runs on a goroutine of its own, whose stack is
// released when it ends, while the connection's goroutine waits for it;
// that one keeps its starting stack. A goroutine costs about a
// microsecond per command. Only one goroutine runs the session at a time,
// as before: the connection's goroutine does nothing while it waits.
// (BenchmarkIdle1000: 8 KiB of stack per idle session before, 4 KiB after.)
type apartSession struct{ ss *session }

var (
	_ imapserver.SessionIMAP4rev2   = apartSession{}
	_ imapserver.SessionAppendLimit = apartSession{}
	_ imapserver.SessionSASL        = apartSession{}
)

// apart runs f on a goroutine of its own and waits for it. A panic in f is
// raised again in the caller, with f's stack in its text, for the
// library's recovery to log.
func apart(f func()) {
	var p any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				p = apartPanic{v: v, stack: debug.Stack()}
			}
		}()
		f()
	}()
	<-done
	if p != nil {
		panic(p)
	}
}

type apartPanic struct {
	v     any
	stack []byte
}

func (p apartPanic) String() string { return fmt.Sprintf("%v\n%s", p.v, p.stack) }

// Close runs at the end of the connection, Idle on the library's IDLE
// goroutine (idle.go) and the rest are small: they run where they are
// called.
//
// Every command after login first makes sure that the user still exists
// (accountRemoved, session.go); NOOP reaches the session only as Poll.
func (a apartSession) Close() error { return a.ss.Close() }
func (a apartSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if err := a.ss.accountRemoved(); err != nil {
		return err
	}
	return a.ss.Idle(w, stop)
}

func (a apartSession) AppendLimit() uint32              { return a.ss.AppendLimit() }
func (a apartSession) AuthenticateMechanisms() []string { return a.ss.AuthenticateMechanisms() }

func (a apartSession) Namespace() (*imap.NamespaceData, error) {
	if err := a.ss.accountRemoved(); err != nil {
		return nil, err
	}
	return a.ss.Namespace()
}

func (a apartSession) Login(username, password string) (err error) {
	apart(func() { err = a.ss.Login(username, password) })
	return err
}

// Authenticate's server checks the password in Next.
func (a apartSession) Authenticate(mech string) (sasl.Server, error) {
	s, err := a.ss.Authenticate(mech)
	if err != nil {
		return nil, err
	}
	return apartSASL{s}, nil
}

type apartSASL struct{ s sasl.Server }

func (a apartSASL) Next(response []byte) (challenge []byte, done bool, err error) {
	apart(func() { challenge, done, err = a.s.Next(response) })
	return challenge, done, err
}

func (a apartSession) Select(name string, options *imap.SelectOptions) (d *imap.SelectData, err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return nil, err
	}
	apart(func() { d, err = a.ss.Select(name, options) })
	return d, err
}

func (a apartSession) Create(name string, options *imap.CreateOptions) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Create(name, options) })
	return err
}

func (a apartSession) Delete(name string) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Delete(name) })
	return err
}

func (a apartSession) Rename(name, newName string, options *imap.RenameOptions) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Rename(name, newName, options) })
	return err
}

func (a apartSession) Subscribe(name string) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Subscribe(name) })
	return err
}

func (a apartSession) Unsubscribe(name string) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Unsubscribe(name) })
	return err
}

func (a apartSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.List(w, ref, patterns, options) })
	return err
}

func (a apartSession) Status(name string, options *imap.StatusOptions) (d *imap.StatusData, err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return nil, err
	}
	apart(func() { d, err = a.ss.Status(name, options) })
	return d, err
}

func (a apartSession) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (d *imap.AppendData, err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return nil, err
	}
	apart(func() { d, err = a.ss.Append(name, r, options) })
	return d, err
}

func (a apartSession) Poll(w *imapserver.UpdateWriter, allowExpunge bool) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Poll(w, allowExpunge) })
	return err
}

func (a apartSession) Unselect() (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Unselect() })
	return err
}

func (a apartSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Expunge(w, uids) })
	return err
}

func (a apartSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (d *imap.SearchData, err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return nil, err
	}
	apart(func() { d, err = a.ss.Search(kind, criteria, options) })
	return d, err
}

func (a apartSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Fetch(w, numSet, options) })
	return err
}

func (a apartSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Store(w, numSet, flags, options) })
	return err
}

func (a apartSession) Copy(numSet imap.NumSet, dest string) (d *imap.CopyData, err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return nil, err
	}
	apart(func() { d, err = a.ss.Copy(numSet, dest) })
	return d, err
}

func (a apartSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) (err error) {
	if err = a.ss.accountRemoved(); err != nil {
		return err
	}
	apart(func() { err = a.ss.Move(w, numSet, dest) })
	return err
}
