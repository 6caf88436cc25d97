package mailbox

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/emersion/go-maildir"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Maildir file names (https://cr.yp.to/proto/maildir.html and Dovecot's
// Maildir format notes):
//
//	<unique>,S=<size on disk>,W=<size with CRLF>[:2,<flags>]
//
// The part before ":" is the message's key: it never changes while the
// message lives in the folder (moving new/ to cur/ and flag changes only
// touch the info after ":"). The unique part is
// <seconds>.M<microseconds>P<pid>Q<counter>R<random>.<hostname>.

// uniqueName makes a new unique part. host must already be escaped.
func uniqueName(now time.Time, pid int, counter uint64, host string) string {
	var rnd [4]byte
	rand.Read(rnd[:])
	return fmt.Sprintf("%d.M%dP%dQ%dR%s.%s", now.Unix(), now.Nanosecond()/1000, pid, counter, hex.EncodeToString(rnd[:]), host)
}

// escapeHost escapes a host name for the unique part: the Maildir spec
// writes "/" as \057 and ":" as \072; we also escape "," (\054), which
// starts our size fields, and "\" itself, and drop anything unprintable.
func escapeHost(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '/' || c == ':' || c == ',' || c == '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		case c <= ' ' || c >= 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "localhost"
	}
	return b.String()
}

// splitName splits a file name into key and info ("2,FS" or "").
func splitName(name string) (key, info string) {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// nameSizes reads the S= and W= fields of a key (Dovecot's extension: each is
// a ","-separated field after the unique part). Missing or malformed fields
// give -1.
func nameSizes(key string) (s, w int64) {
	s, w = -1, -1
	i := strings.IndexByte(key, ',')
	if i < 0 {
		return
	}
	for _, f := range strings.Split(key[i+1:], ",") {
		if len(f) < 3 || f[1] != '=' {
			continue
		}
		v, err := strconv.ParseInt(f[2:], 10, 64)
		if err != nil || v < 0 {
			continue
		}
		switch f[0] {
		case 'S':
			s = v
		case 'W':
			w = v
		}
	}
	return
}

// System flags as Maildir info letters, in the ASCII order the spec
// requires. P ("passed": resent, forwarded or bounced) is shown as the
// $Forwarded keyword (RFC 5788 registry).
const (
	sysDraft uint8 = 1 << iota
	sysFlagged
	sysPassed
	sysAnswered
	sysSeen
	sysDeleted
)

var sysLetters = [...]struct {
	bit    uint8
	letter byte
	flag   string
}{
	{sysDraft, byte(maildir.FlagDraft), FlagDraft},
	{sysFlagged, byte(maildir.FlagFlagged), FlagFlagged},
	{sysPassed, byte(maildir.FlagPassed), "$Forwarded"},
	{sysAnswered, byte(maildir.FlagReplied), FlagAnswered},
	{sysSeen, byte(maildir.FlagSeen), FlagSeen},
	{sysDeleted, byte(maildir.FlagTrashed), FlagDeleted},
}

// parseInfo reads the system flags of an info string. Letters we do not
// know (Dovecot keyword letters a-z, other programs' extensions) are
// returned in extra so that a rename keeps them. An info that is not
// "2,..." (experimental "1," semantics) carries no flags we know.
func parseInfo(info string) (sys uint8, extra string) {
	if !strings.HasPrefix(info, "2,") {
		return 0, ""
	}
	var ex []byte
	for i := 2; i < len(info); i++ {
		c := info[i]
		found := false
		for _, l := range sysLetters {
			if l.letter == c {
				sys |= l.bit
				found = true
				break
			}
		}
		if !found && c > ' ' && c < 0x7f && c != ':' && c != '/' && strings.IndexByte(string(ex), c) < 0 {
			ex = append(ex, c)
		}
	}
	return sys, string(ex)
}

// buildInfo writes the info of a file name in cur/: "2," and the flag
// letters in ASCII order.
func buildInfo(sys uint8, extra string) string {
	letters := []byte(extra)
	for _, l := range sysLetters {
		if sys&l.bit != 0 {
			letters = append(letters, l.letter)
		}
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	return "2," + string(letters)
}

// deliveredBefore orders unique names by what they tell of delivery time:
// the seconds, then the microseconds after "M" and the counter after "Q"
// (ours and Dovecot's: "1733300000.M99999P12Q3..."), compared as numbers,
// since "M99999" sorts after "M100000" as text. A part a name lacks counts
// as 0 (so a name with no time goes first); ties go in text order.
func deliveredBefore(a, b string) bool {
	ka, kb := deliveryKey(a), deliveryKey(b)
	for i := range ka {
		if ka[i] != kb[i] {
			return ka[i] < kb[i]
		}
	}
	return a < b
}

// deliveryKey is seconds, microseconds and counter of a unique name, each
// 0 where it is missing.
func deliveryKey(name string) [3]uint64 {
	var k [3]uint64
	secs, rest, _ := strings.Cut(name, ".")
	k[0] = leadingNumber(secs)
	if part, ok := strings.CutPrefix(rest, "M"); ok {
		k[1] = leadingNumber(part)
	}
	if i := strings.Index(rest, "Q"); i >= 0 {
		k[2] = leadingNumber(rest[i+1:])
	}
	return k
}

// leadingNumber is the decimal number s starts with (0 for none; capped).
func leadingNumber(s string) uint64 {
	var n uint64
	for i := 0; i < len(s) && i < 19 && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + uint64(s[i]-'0')
	}
	return n
}
