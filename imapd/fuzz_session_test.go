package imapd

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds a whole IMAP connection random bytes after a good
// LOGIN and checks that the server survives (a new client is greeted and
// can log in) and that another user's mail is never touched (issue 5
// point 8).
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (FLAGS BODYSTRUCTURE BODY.PEEK[])\r\nc LOGOUT\r\n",
		"a CREATE ../../bob@example.org\r\nb CREATE \"x/../../y\"\r\nc LIST \"\" *\r\n",
		"a APPEND INBOX {5000+}\r\nb CREATE Injected\r\n",
		"a APPEND INBOX (\\Seen) {12}\r\nSubject: x\r\n\r\nb NOOP\r\n",
		"a SELECT INBOX\r\nb STORE 1:* +FLAGS (\\Deleted)\r\nc EXPUNGE\r\n",
		"a SELECT INBOX\r\nb UID SEARCH OR (OR (OR 1 2) 3) TEXT \"x\"\r\nc IDLE\r\nDONE\r\n",
		"a SELECT INBOX\r\nb FETCH 1 BODY[1.2.3.4.5.HEADER.FIELDS (A B)]<0.10>\r\n",
		"a RENAME INBOX Archive\r\nb DELETE Archive\r\nc STATUS INBOX (MESSAGES UIDNEXT)\r\n",
		"\x00\xff{99999999999}\r\n((((((((((((((((((((\r\n" + strings.Repeat("A", 9000) + "\r\n",
		"a ENABLE UTF8=ACCEPT\r\nb SELECT \"&-\"\r\nc MOVE 1 Trash\r\n",
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, nil)
	e.deliver(simple("mine", "alice's message\r\n"))
	const bobMsg = "From: carol@example.net\r\nTo: bob@example.org\r\nSubject: bob's\r\n\r\nnot alice's to touch\r\n"
	if err := e.store.Deliver(context.Background(), []string{otherUser}, strings.NewReader(bobMsg)); err != nil {
		f.Fatal(err)
	}
	// bobFiles finds bob's message among the files in new/ and cur/ (a
	// walk of its own: e.diskFiles reports to the F, which a fuzz
	// function may not use; a file renamed under the walk is skipped).
	root := filepath.Join(e.dir, "mail")
	bobFiles := func() map[string]string {
		out := map[string]string{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if sub := filepath.Base(filepath.Dir(p)); sub != "cur" && sub != "new" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), "not alice's to touch") {
				rel, _ := filepath.Rel(root, p)
				out[rel] = string(b)
			}
			return nil
		})
		return out
	}
	bobBefore := bobFiles()
	if len(bobBefore) != 1 {
		f.Fatalf("bob's message on disk %d times", len(bobBefore))
	}
	login := "L LOGIN " + testUser + ` "` + testPassword + `"` + "\r\n"

	f.Fuzz(func(t *testing.T, input []byte) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK ") {
			t.Fatalf("greeting %q %v", l, err)
		}
		if _, err := io.WriteString(c, login); err != nil {
			t.Fatal(err)
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("LOGIN: %v", err)
			}
			if strings.HasPrefix(l, "L ") {
				if !strings.HasPrefix(l, "L OK") {
					t.Fatalf("LOGIN: %q", l)
				}
				break
			}
		}
		go func() {
			c.Write(input)
			c.(*net.TCPConn).CloseWrite()
		}()
		// Drain until the server closes (it reads EOF) or the deadline.
		io.Copy(io.Discard, br)
		c.Close()

		// The server still greets a new client, who can log in.
		c2, err := net.DialTimeout("tcp", e.addr, 2*time.Second)
		if err != nil {
			t.Fatalf("server gone after input %q: %v", input, err)
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		br2 := bufio.NewReader(c2)
		if l, err := br2.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK ") {
			t.Fatalf("no greeting after input %q: %q %v", input, l, err)
		}
		io.WriteString(c2, login)
		if l, err := br2.ReadString('\n'); err != nil || !strings.HasPrefix(l, "L OK") {
			t.Fatalf("no login after input %q: %q %v", input, l, err)
		}

		after := bobFiles()
		if len(after) != 1 {
			t.Fatalf("bob's message changed after input %q: %v", input, after)
		}
		for name := range bobBefore {
			if _, ok := after[name]; !ok {
				t.Fatalf("bob's message file renamed after input %q: %v", input, after)
			}
		}
	})
}
