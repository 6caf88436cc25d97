package mailbox

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"
)

// Deliveries, flag changes, expunges, reads and polls at once, with the
// watcher on; run with -race. Afterwards memory, index and files agree.
func TestConcurrentUse(t *testing.T) {
	s, dir := testStore(t, Options{PollInterval: 2 * time.Millisecond, ChangeLogSize: 16, CompactMin: 20})
	const (
		deliverers = 4
		perDeliver = 25
		sessions   = 4
	)
	users := []string{"alice@example.org", "bob@example.org"}
	for _, u := range users {
		mustAccount(t, s, u)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for d := 0; d < deliverers; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			for i := 0; i < perDeliver; i++ {
				body := fmt.Sprintf("Subject: %d-%d\r\n\r\n%s\r\n", d, i, strings.Repeat("x", i*10))
				if err := s.Deliver(context.Background(), users, strings.NewReader(body)); err != nil {
					t.Error(err)
					return
				}
			}
		}(d)
	}
	var sw sync.WaitGroup
	for n := 0; n < sessions; n++ {
		sw.Add(1)
		go func(n int) {
			defer sw.Done()
			rnd := rand.New(rand.NewSource(int64(n)))
			a, err := s.Account(users[n%2])
			if err != nil {
				t.Error(err)
				return
			}
			f, err := a.Open("INBOX", false)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			known := map[uint32]bool{}
			ms, _ := f.Messages()
			for _, m := range ms {
				known[m.UID] = true
			}
			for {
				select {
				case <-done:
					return
				case <-f.Notify():
				case <-time.After(time.Millisecond):
				}
				c, err := f.Changes()
				if err != nil {
					t.Error(err)
					return
				}
				for _, uid := range c.Expunged {
					delete(known, uid)
				}
				for _, m := range c.Added {
					known[m.UID] = true
				}
				var uids []uint32
				for uid := range known {
					uids = append(uids, uid)
				}
				if len(uids) == 0 {
					continue
				}
				uid := uids[rnd.Intn(len(uids))]
				switch rnd.Intn(4) {
				case 0:
					f.SetFlags([]uint32{uid}, FlagsAdd, []string{FlagDeleted})
				case 1:
					f.SetFlags([]uint32{uid}, FlagsReplace, []string{FlagSeen, "K"})
				case 2:
					ex, err := f.Expunge(nil)
					if err != nil {
						t.Error(err)
					}
					for _, u := range ex {
						delete(known, u)
					}
				case 3:
					if rc, size, err := f.Open(uid); err == nil {
						n, _ := io.Copy(io.Discard, rc)
						rc.Close()
						if n != size {
							t.Errorf("uid %d: read %d, size %d", uid, n, size)
						}
					}
				}
			}
		}(n)
	}
	wg.Wait()
	close(done)
	sw.Wait()

	for _, u := range users {
		a := mustAccount(t, s, u)
		f := mustOpen(t, a, "INBOX", true)
		ms := mustMessages(t, f)
		if got := files(t, userDir(dir, u)); len(got) != len(ms) {
			t.Fatalf("%s: %d files, %d messages", u, len(got), len(ms))
		}
		st, _ := a.Status("INBOX")
		if st.UIDNext != deliverers*perDeliver+1 {
			t.Fatalf("%s: uidnext %d", u, st.UIDNext)
		}
		var size int64
		for _, m := range ms {
			size += m.Size
		}
		if st.Size != size || int(st.Messages) != len(ms) {
			t.Fatalf("%s: status %+v, sum %d", u, st, size)
		}
	}
	// The index on disk agrees after a restart.
	before := map[string][]MessageInfo{}
	for _, u := range users {
		before[u] = snap(t, s, u, "INBOX").msgs
	}
	s.Close()
	s2 := openAt(t, dir, Options{})
	for _, u := range users {
		sameMessages(t, snap(t, s2, u, "INBOX").msgs, before[u], true)
	}
}
