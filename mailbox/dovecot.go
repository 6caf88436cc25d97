package mailbox

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A Maildir++ tree copied in from Dovecot (or Courier) is served as it is
// (DESIGN.md invariant 4). What those servers keep beside the messages is
// read once, when our own files are missing, so that clients keep their
// state across the migration:
//
//   - dovecot-uidlist (Dovecot's "Maildir Mailbox Format" notes; Courier's
//     courierimapuiddb is its version 1): the folder's UIDVALIDITY, the
//     next UID, and the UID of each file by its base name. A folder without
//     our index takes them, so a client that synced against Dovecot finds
//     the same UIDVALIDITY and UIDs and need not download anything again.
//   - dovecot-keywords: "<n> <keyword>" lines naming the info letters
//     'a'+n of the file names; a file's letters become its keywords. (They
//     then live in our index, as every keyword does; the letters are left
//     out of the file name at its next rename.)
//   - subscriptions: version 1 (one name a line, "." or "/" between
//     levels) or Dovecot's version 2 ("V\t2" header, levels separated by a
//     tab); see readSubscriptions.
//
// Nothing of Dovecot's is written: once served here, the tree is ours.

const (
	dovecotUIDList  = "dovecot-uidlist"
	dovecotKeywords = "dovecot-keywords"
)

// dovecotUIDs is what a dovecot-uidlist says.
type dovecotUIDs struct {
	uidValidity uint32
	uidNext     uint32
	byKey       map[string]uint32
}

// readDovecotUIDList reads dir's dovecot-uidlist; nil if there is none or
// its header does not parse. Lines that do not parse are skipped.
func readDovecotUIDList(dir string) *dovecotUIDs {
	b, err := os.ReadFile(filepath.Join(dir, dovecotUIDList))
	if err != nil {
		return nil
	}
	return parseDovecotUIDList(b)
}

func parseDovecotUIDList(b []byte) *dovecotUIDs {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	if !sc.Scan() {
		return nil
	}
	hdr := strings.Fields(sc.Text())
	if len(hdr) < 1 {
		return nil
	}
	d := &dovecotUIDs{byKey: make(map[string]uint32)}
	version := hdr[0]
	switch version {
	case "1", "2":
		// "1 <uidvalidity> <nextuid>" (Courier's layout).
		if len(hdr) < 3 {
			return nil
		}
		d.uidValidity = parseU32(hdr[1])
		d.uidNext = parseU32(hdr[2])
	case "3":
		// "3 V<uidvalidity> N<nextuid> G<guid> ...", in any order.
		for _, f := range hdr[1:] {
			switch {
			case strings.HasPrefix(f, "V"):
				d.uidValidity = parseU32(f[1:])
			case strings.HasPrefix(f, "N"):
				d.uidNext = parseU32(f[1:])
			}
		}
	default:
		return nil
	}
	if d.uidValidity == 0 {
		return nil
	}
	used := make(map[uint32]bool)
	for sc.Scan() {
		line := sc.Text()
		uidText, rest, ok := strings.Cut(line, " ")
		uid := parseU32(uidText)
		if !ok || uid == 0 || uid == math.MaxUint32 || used[uid] {
			continue
		}
		name := rest
		if version == "3" {
			// "<uid> [<extension fields>] :<file name>"
			i := strings.Index(" "+rest, " :")
			if i < 0 {
				continue
			}
			name = rest[i+1:]
		}
		key, _ := splitName(strings.TrimSpace(name))
		if !validFileName(key) {
			continue
		}
		if _, dup := d.byKey[key]; dup {
			continue
		}
		d.byKey[key] = uid
		used[uid] = true
		if uid >= d.uidNext {
			d.uidNext = uid + 1
		}
	}
	if d.uidNext == 0 {
		d.uidNext = 1
	}
	return d
}

func parseU32(s string) uint32 {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// readDovecotKeywords reads dir's dovecot-keywords: keyword by info
// letter index (0 for 'a'). Keywords that are not valid IMAP atoms are
// left out.
func readDovecotKeywords(dir string) []string {
	fh, err := os.Open(filepath.Join(dir, dovecotKeywords))
	if err != nil {
		return nil
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(io.LimitReader(fh, 64<<10))
	for sc.Scan() {
		n, kw, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 || i >= 26 || !validKeyword(kw) {
			continue
		}
		for len(out) <= i {
			out = append(out, "")
		}
		out[i] = kw
	}
	return out
}

// takeDovecotKeywords moves the keyword letters of m's info that kws
// names into its keywords.
func takeDovecotKeywords(m *message, kws []string) {
	if len(kws) == 0 || m.extra == "" {
		return
	}
	var kept []byte
	for i := 0; i < len(m.extra); i++ {
		c := m.extra[i]
		if c >= 'a' && c <= 'z' && int(c-'a') < len(kws) && kws[c-'a'] != "" {
			m.flags.keywords = addKeyword(m.flags.keywords, kws[c-'a'])
			continue
		}
		kept = append(kept, c)
	}
	m.extra = string(kept)
}

// subsLine maps one line of a subscriptions file to a folder: our own
// and Courier's form ("Archive.2024", modified UTF-7, as subsName writes
// it), or a name with "/" between levels, as Dovecot writes it when that
// is its separator.
func subsLine(s string) (folderName, bool) {
	if n, ok := folderFromSubsName(s); ok {
		return n, true
	}
	if strings.EqualFold(s, inboxName) {
		return folderName{canon: inboxName}, true
	}
	if strings.Contains(s, "/") {
		return folderFromParts(strings.Split(s, "/"))
	}
	return folderName{}, false
}

// folderFromParts maps hierarchy levels (each UTF-8, or modified UTF-7 as
// Dovecot stores them) to a folder name.
func folderFromParts(parts []string) (folderName, bool) {
	for i, p := range parts {
		if strings.Contains(p, "&") {
			if d, err := decodeMUTF7(p); err == nil {
				parts[i] = d
			}
		}
	}
	n, err := parseFolderName(strings.Join(parts, "/"))
	return n, err == nil
}

// unescapeDovecotTab undoes Dovecot's tab escaping of one level of a
// version 2 subscriptions line (\001 followed by '1', 't', 'r' or 'n').
func unescapeDovecotTab(s string) string {
	if !strings.Contains(s, "\x01") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\x01' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '1':
			b.WriteByte('\x01')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
