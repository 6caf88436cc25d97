package imapd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
)

// faultStore injects an error into Account and Account.Append; everything
// else is the real store.
type faultStore struct {
	mailbox.Store
	mu         sync.Mutex
	accountErr error
	appendErr  error
}

func (f *faultStore) set(account, appendErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accountErr, f.appendErr = account, appendErr
}

func (f *faultStore) Account(user string) (mailbox.Account, error) {
	f.mu.Lock()
	err := f.accountErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	a, err := f.Store.Account(user)
	if err != nil {
		return nil, err
	}
	return &faultAccount{Account: a, f: f}, nil
}

type faultAccount struct {
	mailbox.Account
	f *faultStore
}

func (a *faultAccount) Append(name string, r io.Reader, flags []string, date time.Time) (uint32, uint32, error) {
	a.f.mu.Lock()
	err := a.f.appendErr
	a.f.mu.Unlock()
	if err != nil {
		io.Copy(io.Discard, r)
		return 0, 0, err
	}
	return a.Account.Append(name, r, flags, date)
}

// Store errors reach the client as response codes with fixed text; the
// detail goes to the log only (STYLE.md: one mapping out).
func TestStoreErrorMapping(t *testing.T) {
	fs := &faultStore{}
	e := startEnv(t, envConfig{wrapStore: func(s mailbox.Store) mailbox.Store { fs.Store = s; return fs }})
	r := e.rawLogin()
	msg := simple("x", "y\r\n")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("quota of %s: %w", testUser, mailbox.ErrOverQuota), "NO [OVERQUOTA] Over quota"},
		{fmt.Errorf("write /secret/path: %w", mailbox.ErrNoSpace), "NO [UNAVAILABLE] Service temporarily unavailable, try again later"},
		{fmt.Errorf("%w: 200 MiB", mailbox.ErrTooBig), "NO [TOOBIG] Message too big"},
		{mailbox.ErrNoMailbox, "NO [TRYCREATE] No such mailbox; create it first"},
		{errors.New("disk on fire at /secret/path"), "NO [SERVERBUG] Internal server error"},
	} {
		fs.set(nil, tc.err)
		r.send(fmt.Sprintf("a APPEND INBOX {%d}", len(msg)))
		if l := r.line(); l != "+ Ready for literal data" {
			t.Fatalf("%q", l)
		}
		r.send(msg)
		if _, tagged := r.until("a"); tagged != "a "+tc.want {
			t.Errorf("%v: got %q, want %q", tc.err, tagged, "a "+tc.want)
		}
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Errorf("the detail of an unexpected error is not logged")
	}
	fs.set(nil, nil)
	if got := e.diskContents(); len(got) != 0 {
		t.Errorf("failed APPENDs left %d files", len(got))
	}

	// An account that cannot be opened after a good password.
	fs.set(fmt.Errorf("%w: %s", mailbox.ErrNoUser, testUser), nil)
	r2 := e.raw()
	if _, tagged := r2.cmd("l", "LOGIN "+testUser+` "`+testPassword+`"`); tagged != "l NO [UNAVAILABLE] Service temporarily unavailable, try again later" {
		t.Errorf("login with a broken account: %q", tagged)
	}
	fs.set(nil, nil)
	r2.ok("m", "LOGIN "+testUser+` "`+testPassword+`"`)
}
