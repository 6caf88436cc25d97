package pop3d

import (
	"fmt"
	"strings"
	"testing"
)

var threeMessages = []string{
	"Subject: one\r\n\r\nfirst\r\n",
	"Subject: two\r\n\r\nsecond, longer message\r\n",
	"Subject: three\r\n\r\nthird\r\nwith two lines\r\n",
}

func TestStatListUidl(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	infos, validity, _ := e.inbox()
	if len(infos) != 3 {
		t.Fatalf("store has %d messages", len(infos))
	}
	var total int64
	var list, uidls []string
	for i, in := range infos {
		total += in.Size
		list = append(list, fmt.Sprintf("%d %d", i+1, in.Size))
		uidls = append(uidls, fmt.Sprintf("%d %08X%08X", i+1, in.UID, validity))
	}

	c := e.dial()
	c.login()
	c.cmd("STAT", fmt.Sprintf("+OK 3 %d", total))
	c.cmd("LIST", fmt.Sprintf("+OK 3 messages (%d octets)", total))
	if got := c.lines(); strings.Join(got, "|") != strings.Join(list, "|") {
		t.Errorf("LIST %q, want %q", got, list)
	}
	c.cmd("LIST 2", "+OK "+list[1])
	c.cmd("UIDL", "+OK unique-id listing follows")
	if got := c.lines(); strings.Join(got, "|") != strings.Join(uidls, "|") {
		t.Errorf("UIDL %q, want %q", got, uidls)
	}
	c.cmd("UIDL 3", "+OK "+uidls[2])
	c.cmd("NOOP", "+OK")

	// DELE hides a message from STAT, LIST and UIDL but keeps numbers.
	c.cmd("DELE 2", "+OK message 2 deleted")
	rest := total - infos[1].Size
	c.cmd("STAT", fmt.Sprintf("+OK 2 %d", rest))
	c.cmd("LIST", fmt.Sprintf("+OK 2 messages (%d octets)", rest))
	if got := c.lines(); strings.Join(got, "|") != list[0]+"|"+list[2] {
		t.Errorf("LIST after DELE %q", got)
	}
	c.cmd("UIDL", "+OK unique-id listing follows")
	if got := c.lines(); strings.Join(got, "|") != uidls[0]+"|"+uidls[2] {
		t.Errorf("UIDL after DELE %q", got)
	}
	c.cmd("LIST 2", "-ERR message 2 already deleted")
	c.cmd("UIDL 2", "-ERR message 2 already deleted")
	c.cmd("LIST 3", "+OK "+list[2])

	// RSET brings it back.
	c.cmd("RSET", fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", total))
	c.cmd("STAT", fmt.Sprintf("+OK 3 %d", total))
	c.cmd("LIST 2", "+OK "+list[1])
}

func TestEmptyMaildrop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.dial()
	c.cmd("USER "+testUser, "+OK send PASS")
	c.cmd("PASS "+testPassword, "+OK maildrop has 0 messages (0 octets)")
	c.cmd("STAT", "+OK 0 0")
	c.cmd("LIST", "+OK 0 messages (0 octets)")
	if got := c.lines(); len(got) != 0 {
		t.Errorf("LIST lines %q", got)
	}
	c.cmd("UIDL", "+OK unique-id listing follows")
	if got := c.lines(); len(got) != 0 {
		t.Errorf("UIDL lines %q", got)
	}
	c.cmd("LIST 1", "-ERR no such message")
	c.cmd("RETR 1", "-ERR no such message")
}

// UIDLs are the same in a later session, and a message delivered in
// between gets a new one without changing the others.
func TestUIDLStableAcrossSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages[:2]...)
	uidl := func() []string {
		c := e.dial()
		c.login()
		c.cmd("UIDL", "+OK unique-id listing follows")
		lines := c.lines()
		c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
		return lines
	}
	first := uidl()
	second := uidl()
	if strings.Join(first, "|") != strings.Join(second, "|") || len(first) != 2 {
		t.Fatalf("UIDL changed: %q then %q", first, second)
	}
	e.deliver(threeMessages[2])
	third := uidl()
	if len(third) != 3 || strings.Join(third[:2], "|") != strings.Join(first, "|") {
		t.Fatalf("UIDL after delivery %q, before %q", third, first)
	}
	for _, u := range [][]string{first, third} {
		for _, l := range u {
			if _, id, _ := strings.Cut(l, " "); len(id) != 16 || strings.ToUpper(id) != id {
				t.Errorf("unique-id %q not 16 upper-case hex digits", id)
			}
		}
	}
	// After DELE of the first and QUIT, the second keeps its unique-id.
	c := e.dial()
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (1 message deleted)")
	after := uidl()
	if len(after) != 2 || strings.SplitN(after[0], " ", 2)[1] != strings.SplitN(third[1], " ", 2)[1] {
		t.Errorf("UIDL after removal %q, before %q", after, third)
	}
}

// One message is "1 message", in the greeting, LIST and QUIT alike; none
// is "0 messages".
func TestCountsInTheSingular(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages[0])
	infos, _, _ := e.inbox()
	if len(infos) != 1 {
		t.Fatalf("store has %d messages", len(infos))
	}
	size := infos[0].Size

	c := e.dial()
	c.cmd("USER "+testUser, "+OK send PASS")
	c.cmd("PASS "+testPassword, fmt.Sprintf("+OK maildrop has 1 message (%d octets)", size))
	c.cmd("LIST", fmt.Sprintf("+OK 1 message (%d octets)", size))
	if got := c.lines(); len(got) != 1 || got[0] != fmt.Sprintf("1 %d", size) {
		t.Errorf("LIST %q", got)
	}
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("LIST", "+OK 0 messages (0 octets)")
	if got := c.lines(); len(got) != 0 {
		t.Errorf("LIST after DELE %q", got)
	}
	c.cmd("RSET", fmt.Sprintf("+OK maildrop has 1 message (%d octets)", size))
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (1 message deleted)")
	if infos, _, _ := e.inbox(); len(infos) != 0 {
		t.Errorf("after QUIT the store has %d messages", len(infos))
	}
}
