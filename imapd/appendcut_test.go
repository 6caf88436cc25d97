package imapd

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// An APPEND whose literal is cut off by the end of the connection stores
// nothing and leaves nothing in tmp/: the client never got APPEND OK, so
// it will send the message again (RFC 9051 §6.3.12: the message is
// appended only on OK). The library's literal reader ends at the end of
// the connection as if the literal were whole.
func TestAppendCutOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  string
		sync bool // wait for the continuation request
	}{
		{"synchronizing literal", "a APPEND INBOX {1000}", true},
		{"non-synchronizing literal", "a APPEND INBOX (\\Seen) {1000+}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.rawLogin()
			r.ok("s", "SELECT INBOX") // creates the user's tree
			before := e.diskContents()
			r.send(tc.cmd)
			if tc.sync {
				if l := r.line(); !strings.HasPrefix(l, "+ ") {
					t.Fatalf("continuation: %q", l)
				}
			}
			part := "Subject: cut off\r\n\r\n" + strings.Repeat("x", 41)
			if _, err := r.conn.Write([]byte(part)); err != nil {
				t.Fatal(err)
			}
			r.conn.Close()
			e.waitLog("session end", 1)
			if recs := e.logs.find("append cut off"); len(recs) != 1 || recs[0]["received"] != float64(len(part)) {
				t.Errorf("logged %v, want one \"append cut off\" with received=%d", recs, len(part))
			}
			if got := e.diskContents(); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("cut-off APPEND stored %d files: %q", len(got)-len(before), got)
			}
			if got := e.userTmp(); len(got) != 0 {
				t.Errorf("cut-off APPEND left files in tmp/: %q", got)
			}
		})
	}
}

// The same literal sent whole, slowly, is stored: the guard counts
// octets, it does not hurry the client.
func TestAppendSlowLiteral(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	msg := "Subject: slow\r\n\r\nbody\r\n"
	r.send(fmt.Sprintf("a APPEND INBOX {%d}", len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	for i := 0; i < len(msg); i += 7 {
		r.conn.Write([]byte(msg[i:min(i+7, len(msg))]))
		time.Sleep(5 * time.Millisecond)
	}
	r.send("")
	if _, tagged := r.until("a"); !strings.HasPrefix(tagged, "a OK [APPENDUID ") {
		t.Fatalf("APPEND: %q", tagged)
	}
	if got := e.diskContents(); len(got) != 1 || got[0] != strings.ReplaceAll(msg, "\r\n", "\n") {
		t.Errorf("stored %q", got)
	}
}
