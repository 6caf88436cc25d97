package mailbox

import (
	"fmt"
	"github.com/emersion/go-maildir/maildirpp"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on names. A folder's directory name (".A.B") must fit in one path
// component (NAME_MAX is 255 on Linux file systems).
const (
	maxDirName    = 255
	maxFolderPath = 64 // hierarchy levels
	maxUserPart   = 255
)

// inboxName is the canonical spelling of the root folder.
const inboxName = "INBOX"

// userPath validates a user name (local@domain) and returns its canonical
// form (lower case) and the directory below the mail root that holds its
// tree, dir/<domain>/<local>. Nothing that could leave the tree passes: each
// part must be a single path component that is not hidden.
// UserDir is where the store under root keeps user's mail (whether or not
// it exists yet), for the admin commands to tell the admin about it.
func UserDir(root, user string) (string, error) {
	_, dir, err := userPath(root, user)
	return dir, err
}

func userPath(root, user string) (canon, dir string, err error) {
	canon = strings.ToLower(user)
	local, domain, ok := strings.Cut(canon, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", "", fmt.Errorf("%w: user %q is not local@domain", ErrBadName, user)
	}
	for _, p := range []string{local, domain} {
		if err := checkUserPart(p); err != nil {
			return "", "", fmt.Errorf("%w: user %q: %v", ErrBadName, user, err)
		}
	}
	return canon, filepath.Join(root, domain, local), nil
}

func checkUserPart(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty part")
	case len(p) > maxUserPart:
		return fmt.Errorf("part too long")
	case !utf8.ValidString(p):
		return fmt.Errorf("not UTF-8")
	case p[0] == '.':
		return fmt.Errorf("part starts with a dot")
	}
	for _, r := range p {
		if r == '/' || r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return fmt.Errorf("forbidden character %q", r)
		}
	}
	return nil
}

// folderName is a validated folder name.
type folderName struct {
	canon string   // API form: "INBOX", "Archive/2024"
	parts []string // UTF-8 components; nil for INBOX
	dir   string   // directory below the user root: "" for INBOX, ".Archive.2024"
}

func (n folderName) isInbox() bool { return n.parts == nil }

// parent returns the names of every superior of n ("A/B/C": "A", "A/B").
func (n folderName) parents() []folderName {
	var out []folderName
	for i := 1; i < len(n.parts); i++ {
		p, err := parseFolderName(strings.Join(n.parts[:i], "/"))
		if err == nil && !p.isInbox() {
			out = append(out, p)
		}
	}
	return out
}

// parseFolderName validates an API folder name ("/"-delimited UTF-8) and maps
// it to its Maildir++ directory. "INBOX" in any case is the root Maildir; a
// first component spelled INBOX in any case is canonicalised ("inbox/x" is
// "INBOX/x", stored as ".INBOX.x").
//
// Refused with ErrBadName: empty names and components, a "." anywhere
// (ErrNameDot: it is the on-disk hierarchy separator of Maildir++, so a
// literal dot is not possible; we refuse rather than encode it), control
// characters and NUL, invalid UTF-8, the IMAP LIST wildcards "*" and "%"
// (ErrNameWildcard, RFC 9051 §6.3.9), a backslash (ErrNameBackslash), more
// than MaxFolderDepth levels (ErrNameTooDeep), and names whose directory
// would not fit in one path component (ErrNameTooLong).
func parseFolderName(name string) (folderName, error) {
	bad := func(why string) (folderName, error) {
		return folderName{}, fmt.Errorf("%w: %q: %s", ErrBadName, name, why)
	}
	badKind := func(kind error) (folderName, error) {
		return folderName{}, fmt.Errorf("%w: %q", kind, name)
	}
	if strings.EqualFold(name, inboxName) {
		return folderName{canon: inboxName}, nil
	}
	if name == "" {
		return bad("empty")
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	parts := strings.Split(name, "/")
	if len(parts) > maxFolderPath {
		return badKind(ErrNameTooDeep)
	}
	enc := make([]string, len(parts))
	for i, p := range parts {
		if p == "" {
			return bad("empty component")
		}
		for _, r := range p {
			switch {
			case r == '.':
				return badKind(ErrNameDot)
			case r == '*' || r == '%':
				return badKind(ErrNameWildcard)
			case r == '\\':
				return badKind(ErrNameBackslash)
			case unicode.IsControl(r), r == utf8.RuneError, r == 0x2028, r == 0x2029:
				return bad("control character")
			}
		}
		if i == 0 && strings.EqualFold(p, inboxName) {
			parts[0] = inboxName
			p = inboxName
		}
		enc[i] = encodeMUTF7(p)
	}
	// Maildir++: ".Parent.Child". A "." inside a part was refused above
	// and modified UTF-7 never makes one, so Join cannot fail here.
	dir, err := maildirpp.Join(enc)
	if err != nil {
		return bad("contains the Maildir++ separator")
	}
	if len(dir) > maxDirName {
		return badKind(ErrNameTooLong)
	}
	return folderName{canon: strings.Join(parts, "/"), parts: parts, dir: dir}, nil
}

// folderFromDir maps a directory name found in a user root back to a folder
// name. ok is false for anything that is not a folder we could have made
// (other programs' files, our own temporary names, bad encodings).
func folderFromDir(dir string) (folderName, bool) {
	if len(dir) < 2 || dir == ".." {
		return folderName{}, false
	}
	enc, err := maildirpp.Split(dir)
	if err != nil {
		return folderName{}, false
	}
	parts := make([]string, len(enc))
	for i, e := range enc {
		p, err := decodeMUTF7(e)
		if err != nil {
			return folderName{}, false
		}
		parts[i] = p
	}
	n, err := parseFolderName(strings.Join(parts, "/"))
	if err != nil || n.isInbox() || n.dir != dir {
		return folderName{}, false
	}
	return n, true
}

// subsName is the name of a folder in the subscriptions and special-use
// files: its directory name without the leading dot (Courier and Dovecot's
// Maildir++ form, modified UTF-7, "." between levels), "INBOX" for the root.
func (n folderName) subsName() string {
	if n.isInbox() {
		return inboxName
	}
	return n.dir[1:]
}

// folderFromSubsName is the inverse of subsName.
func folderFromSubsName(s string) (folderName, bool) {
	if s == inboxName {
		return folderName{canon: inboxName}, true
	}
	return folderFromDir("." + s)
}
