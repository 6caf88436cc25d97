package users

import (
	"fmt"
	"log/slog"
	"strings"
)

// maxAliasDepth bounds alias expansion: an alias may name an alias, and so
// on, this many levels deep. Deeper branches are dropped and logged.
const maxAliasDepth = 10

// Resolve maps a recipient to the canonical addresses of the local users it
// reaches.
//
//   - The domain and the local part are compared without regard to case.
//   - "alice+tag@example.org" reaches alice when no user or alias is named
//     "alice+tag" (the delimiter is FileOptions.Delimiter); the tag is
//     dropped from the answer.
//   - Aliases expand recursively to users and other aliases, at most
//     maxAliasDepth levels; a loop is cut where it closes. Each user is
//     listed once, in the order first reached.
//   - Resolve returns local users only. AddAlias refuses a target outside
//     our domains, but a hand-edited file (or a domain dropped from the
//     config) may still hold one: it is skipped, and an alias that reaches
//     no local user gives ErrNoUser.
//   - "postmaster" without a domain (RFC 5321 §4.5.1 requires it to be
//     accepted) is looked up as postmaster@ each local domain in turn.
//
// Errors: ErrBadAddress for text that is not an address, ErrNotLocal for
// another domain, ErrNoUser for a local address that reaches nobody.
func (f *FileDB) Resolve(address string) ([]string, error) {
	return f.resolve(address, f.log)
}

// ResolveQuietly is Resolve without its log lines (an alias target that
// does not exist, an alias that reaches no local user), which are for a
// server's log: for the command line, which asks to give advice of its own.
func (f *FileDB) ResolveQuietly(address string) ([]string, error) {
	return f.resolve(address, discardLogger)
}

func (f *FileDB) resolve(address string, log *slog.Logger) ([]string, error) {
	if strings.EqualFold(address, "postmaster") {
		for _, dom := range f.localDomains() {
			if got, err := f.resolve("postmaster@"+dom, log); err == nil {
				return got, nil
			}
		}
		return nil, fmt.Errorf("%w: postmaster", ErrNoUser)
	}
	// The domain decides first: ErrNotLocal whatever the local part is.
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return nil, badAddress(address, "the address has no @domain part")
	}
	if why := domainProblem(address[at+1:]); why != "" {
		return nil, badAddress(address, why)
	}
	if !f.IsLocalDomain(address[at+1:]) {
		return nil, fmt.Errorf("%w: %s", ErrNotLocal, strings.ToLower(address[at+1:]))
	}
	c, err := canonical(address, "")
	if err != nil {
		// A local part outside our syntax (quoted, non-ASCII) can name no
		// user, since we never create one.
		return nil, fmt.Errorf("%w: %v", ErrNoUser, err)
	}
	x := expansion{f: f, d: f.snapshot(), seen: map[string]bool{}, log: log}
	if !x.expand(c, 0) {
		return nil, fmt.Errorf("%w: %s", ErrNoUser, c)
	}
	if len(x.out) == 0 {
		log.Warn("alias reaches no local user", "alias", c, "remote_targets", x.remote)
		return nil, fmt.Errorf("%w: %s reaches no local user", ErrNoUser, c)
	}
	return x.out, nil
}

// expansion is the state of one Resolve call.
type expansion struct {
	f      *FileDB
	d      *db
	seen   map[string]bool // users added and aliases entered
	out    []string
	remote int          // targets outside our domains, skipped
	log    *slog.Logger // for broken aliases; nil: discard
}

func (x *expansion) logger() *slog.Logger {
	if x.log == nil {
		return discardLogger
	}
	return x.log
}

// discardLogger drops every record.
var discardLogger = slog.New(slog.DiscardHandler)

// expand adds what addr (canonical) reaches and reports whether it named a
// user or an alias at all.
func (x *expansion) expand(addr string, depth int) bool {
	if x.lookup(addr, depth) {
		return true
	}
	// Subaddress: "alice+tag" reaches "alice" (RFC 5233 §1 describes the
	// convention; the delimiter is ours to choose).
	local, domain := splitCanonical(addr)
	if i := strings.Index(local, x.f.delim); i > 0 {
		return x.lookup(local[:i]+"@"+domain, depth)
	}
	return false
}

// lookup adds what addr reaches when it is exactly a user or an alias.
func (x *expansion) lookup(addr string, depth int) bool {
	if _, ok := x.d.users[addr]; ok {
		if !x.seen[addr] {
			x.seen[addr] = true
			x.out = append(x.out, addr)
		}
		return true
	}
	targets, ok := x.d.aliases[addr]
	if !ok {
		return false
	}
	if x.seen[addr] {
		return true // a loop, or a second path to the same alias: done already
	}
	if depth >= maxAliasDepth {
		x.logger().Warn("alias nesting too deep; branch dropped", "alias", addr, "max_depth", maxAliasDepth)
		return true
	}
	x.seen[addr] = true
	for _, t := range targets {
		c, err := canonical(t, "")
		if err != nil {
			continue // decodeDB checked the syntax; unreachable
		}
		if _, dom := splitCanonical(c); !x.f.IsLocalDomain(dom) {
			x.remote++
			continue
		}
		if !x.expand(c, depth+1) {
			x.logger().Warn("alias target does not exist", "alias", addr, "target", c)
		}
	}
	return true
}
