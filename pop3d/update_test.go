package pop3d

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mailsuite/mailsuite/mailbox"
)

// fileWith returns the on-disk name of the one INBOX file containing s.
func fileWith(t *testing.T, files map[string]string, s string) string {
	t.Helper()
	var found []string
	for name, content := range files {
		if strings.Contains(content, s) {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d files contain %q: %v", len(found), s, found)
	}
	return found[0]
}

// diskFlags is the Maildir info of a file name (after ":2,").
func diskFlags(name string) string {
	_, flags, _ := strings.Cut(name, ":2,")
	return flags
}

func TestDeleQuitRemoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	before := e.diskFiles()
	if len(before) != 3 {
		t.Fatalf("%d files on disk", len(before))
	}

	c := e.dial()
	c.login()
	c.cmd("RETR 3", fmt.Sprintf("+OK %d octets", e.sizeOf(2)))
	c.body()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("DELE 2", "+OK message 2 deleted")
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (2 messages deleted)")
	c.expectClosed()
	e.waitSessionsEnded(1)

	after := e.diskFiles()
	if len(after) != 1 {
		t.Fatalf("%d files left on disk, want 1: %v", len(after), sortedKeys(after))
	}
	kept := fileWith(t, after, "Subject: three")
	if !strings.Contains(diskFlags(kept), "S") {
		t.Errorf("retrieved message not marked seen on disk: %s", kept)
	}
	infos, _, _ := e.inbox()
	if len(infos) != 1 || !hasFlag(infos[0].Flags, mailbox.FlagSeen) {
		t.Errorf("store after QUIT: %v", infos)
	}
	end := e.logs.find("pop3 session end")
	if end[0]["retrieved"] != float64(1) || end[0]["deleted"] != float64(2) || end[0]["reason"] != "quit" {
		t.Errorf("session end log %v", end[0])
	}
}

// sizeOf is the store's size of the i-th INBOX message.
func (e *env) sizeOf(i int) int64 {
	infos, _, _ := e.inbox()
	return infos[i].Size
}

// RFC 1939 §6: without QUIT there is no UPDATE state.
func TestDroppedConnectionRemovesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	before := e.diskFiles()

	c := e.dial()
	c.login()
	c.cmd("RETR 1", fmt.Sprintf("+OK %d octets", e.sizeOf(0)))
	c.body()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("DELE 2", "+OK message 2 deleted")
	c.conn.Close()
	e.waitSessionsEnded(1)

	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dropped session changed the store:\nbefore %v\nafter  %v", sortedKeys(before), sortedKeys(after))
	}
	end := e.logs.find("pop3 session end")
	if end[0]["deleted"] != float64(0) || end[0]["reason"] != "client closed connection" {
		t.Errorf("session end log %v", end[0])
	}
}

// RSET forgets DELE marks and retrievals: QUIT then changes nothing.
func TestRsetThenQuit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	before := e.diskFiles()

	c := e.dial()
	c.login()
	c.cmd("RETR 2", fmt.Sprintf("+OK %d octets", e.sizeOf(1)))
	c.body()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("DELE 3", "+OK message 3 deleted")
	_, size := e.totals()
	c.cmd("RSET", fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", size))
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
	e.waitSessionsEnded(1)

	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("RSET then QUIT changed the store:\nbefore %v\nafter  %v", sortedKeys(before), sortedKeys(after))
	}
}

// QUIT before login changes nothing and ends the session.
func TestQuitBeforeLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial()
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off")
	c.expectClosed()
}

// failingStore wraps the real store to make chosen operations fail.
type failingStore struct {
	mailbox.Store
	accountErr  error
	messagesErr error
	removeErr   error
	openErr     error // Folder.Open fails
	readErr     error // reading a message fails after readAfter octets
	readAfter   int64
}

func (s failingStore) Account(user string) (mailbox.Account, error) {
	if s.accountErr != nil {
		return nil, s.accountErr
	}
	a, err := s.Store.Account(user)
	if err != nil {
		return nil, err
	}
	return failingAccount{a, s}, nil
}

type failingAccount struct {
	mailbox.Account
	s failingStore
}

func (a failingAccount) Open(name string, readOnly bool) (mailbox.Folder, error) {
	f, err := a.Account.Open(name, readOnly)
	if err != nil {
		return nil, err
	}
	return failingFolder{f, a.s}, nil
}

type failingFolder struct {
	mailbox.Folder
	s failingStore
}

func (f failingFolder) Messages() ([]mailbox.MessageInfo, error) {
	if f.s.messagesErr != nil {
		return nil, f.s.messagesErr
	}
	return f.Folder.Messages()
}

func (f failingFolder) Remove(uids []uint32) error {
	if f.s.removeErr != nil {
		return f.s.removeErr
	}
	return f.Folder.Remove(uids)
}

func (f failingFolder) Open(uid uint32) (io.ReadCloser, int64, error) {
	if f.s.openErr != nil {
		return nil, 0, f.s.openErr
	}
	rc, n, err := f.Folder.Open(uid)
	if err != nil || f.s.readErr == nil {
		return rc, n, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, f.s.readAfter), iotest.ErrReader(f.s.readErr)), rc}, n, nil
}

func withStore(wrap func(mailbox.Store) mailbox.Store) func(*Options) {
	return func(o *Options) { o.Store = wrap(o.Store) }
}

func TestQuitRemoveFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withStore(func(s mailbox.Store) mailbox.Store {
		return failingStore{Store: s, removeErr: fmt.Errorf("rename: %w", mailbox.ErrNoSpace)}
	}))
	e.deliver(threeMessages...)
	before := e.diskFiles()

	c := e.dial()
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("QUIT", "-ERR [SYS/TEMP] some deleted messages not removed")
	c.expectClosed()
	e.waitSessionsEnded(1)
	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed: %v", sortedKeys(after))
	}
	if end := e.logs.find("pop3 session end"); end[0]["deleted"] != float64(0) {
		t.Errorf("session end log %v", end[0])
	}
	if strings.Contains(e.logs.String(), "rename") == false {
		t.Errorf("the cause is not in the log")
	}
}

func TestStorageErrors(t *testing.T) {
	t.Parallel()
	internal := errors.New("open /secret/path: permission denied")
	for _, tt := range []struct {
		name string
		fs   failingStore
		want string
	}{
		{"account", failingStore{accountErr: internal}, "-ERR [SYS/TEMP] temporary server error, try again later"},
		{"messages", failingStore{messagesErr: internal}, "-ERR [SYS/TEMP] temporary server error, try again later"},
		{"no user", failingStore{accountErr: mailbox.ErrNoUser}, "-ERR [SYS/PERM] maildrop unavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withStore(func(s mailbox.Store) mailbox.Store {
				tt.fs.Store = s
				return tt.fs
			}))
			c := e.dial()
			c.cmd("USER "+testUser, "+OK send PASS")
			c.cmd("PASS "+testPassword, tt.want)
			c.cmd("STAT", "-ERR not logged in")
		})
	}
}

func TestRetrStorageErrors(t *testing.T) {
	t.Parallel()
	t.Run("open", func(t *testing.T) {
		e := newEnv(t, withStore(func(s mailbox.Store) mailbox.Store {
			return failingStore{Store: s, openErr: errors.New("EIO")}
		}))
		e.deliver(threeMessages...)
		c := e.dial()
		c.login()
		c.cmd("RETR 1", "-ERR [SYS/TEMP] temporary server error, try again later")
		c.cmd("TOP 1 1", "-ERR [SYS/TEMP] temporary server error, try again later")
		c.cmd("NOOP", "+OK")
	})
	t.Run("read, nothing sent yet", func(t *testing.T) {
		// The failure comes before the first flush: a clean -ERR.
		e := newEnv(t, withStore(func(s mailbox.Store) mailbox.Store {
			return failingStore{Store: s, readErr: errors.New("EIO"), readAfter: 10}
		}))
		e.deliver(threeMessages...)
		c := e.dial()
		c.login()
		c.cmd("RETR 1", "-ERR [SYS/TEMP] temporary server error, try again later")
		c.cmd("NOOP", "+OK")
	})
	t.Run("read, partly sent", func(t *testing.T) {
		// After +OK and part of the message no -ERR can follow: the
		// connection is cut without a terminator and nothing is marked.
		e := newEnv(t, withStore(func(s mailbox.Store) mailbox.Store {
			return failingStore{Store: s, readErr: errors.New("EIO"), readAfter: 200 << 10}
		}))
		e.deliver(bigMessage(400 << 10))
		before := e.diskFiles()
		c := e.dial()
		c.login()
		c.cmd("RETR 1", fmt.Sprintf("+OK %d octets", e.sizeOf(0)))
		if _, err := readDotBody(c.tp.R); err == nil {
			t.Fatal("broken message arrived complete")
		}
		e.waitSessionsEnded(1)
		if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("store changed: %v", sortedKeys(after))
		}
		if end := e.logs.find("pop3 session end"); end[0]["reason"] != "message read failed" || end[0]["retrieved"] != float64(0) {
			t.Errorf("session end log %v", end[0])
		}
	})
}
