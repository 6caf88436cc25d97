package users

import (
	"fmt"
	"slices"
	"strings"
)

// localAddress checks an address that is to become a user or an alias: our
// syntax, no delimiter in the local part, a name the mail store can hold,
// and a local domain. It returns the canonical form.
func (f *FileDB) localAddress(address string) (string, error) {
	c, err := canonical(address, f.delim)
	if err != nil {
		return "", err
	}
	local, dom := splitCanonical(c)
	if why := storeNameProblem(local); why != "" {
		return "", badAddress(address, why)
	}
	if !f.IsLocalDomain(dom) {
		return "", fmt.Errorf("%w: %s; add it to domains in the config first", ErrNotLocal, dom)
	}
	return c, nil
}

// storeNameProblem says why a local part that passed our address syntax
// still cannot name a user, or "". A user's mail lives in the store under
// <domain>/<local part> (mailbox/names.go, userPath), and the store refuses
// a part holding '/' or '\', control characters or spaces, non-UTF-8, or
// a leading dot. Our dot-atom syntax (localProblem) already refuses all of
// those but '/', which RFC 5322 §3.2.3 allows in atext; an address with it
// would be accepted here and its mail deferred by the store forever.
// Aliases obey the same rule, so that any alias name could later become a
// user. Addresses already in the file are not re-checked (decodeDB).
func storeNameProblem(local string) string {
	if i := strings.IndexAny(local, `/\`); i >= 0 {
		return fmt.Sprintf("the part before @ contains %q, which a mailbox name cannot hold", rune(local[i]))
	}
	return ""
}

// refuseRemoteTarget is the one check that keeps alias targets inside the
// local domains. Resolve returns local users only, and nothing forwards
// mail to another domain yet, so a remote target would be accepted here and
// its mail silently dropped. When outbound forwarding exists, remove this
// check and have Resolve hand remote targets to the queue; the rest of
// AddAlias already skips remote targets in its local checks.
func (f *FileDB) refuseRemoteTarget(target string) error {
	c, err := canonical(target, "")
	if err != nil {
		return err
	}
	if _, dom := splitCanonical(c); !f.IsLocalDomain(dom) {
		return fmt.Errorf("%w: alias target %s is not in a local domain; outbound forwarding is not available yet", ErrNotLocal, target)
	}
	return nil
}

// exists reports whether c is taken, as an ErrExists error naming what
// holds it.
func exists(d *db, c string) error {
	if _, ok := d.users[c]; ok {
		return fmt.Errorf("%w: %s is a user", ErrExists, c)
	}
	if _, ok := d.aliases[c]; ok {
		return fmt.Errorf("%w: %s is an alias", ErrExists, c)
	}
	return nil
}

// CheckNewAddress makes the checks AddUser and AddAlias make of a new
// address, without changing anything, and returns its canonical form: for
// the command line, which should not ask for a password it would waste.
// Errors: ErrBadAddress, ErrNotLocal, ErrExists. (The add itself checks
// again under the lock.)
func (f *FileDB) CheckNewAddress(address string) (string, error) {
	c, err := f.localAddress(address)
	if err != nil {
		return "", err
	}
	d, err := f.fresh()
	if err != nil {
		return "", err
	}
	if err := exists(d, c); err != nil {
		return "", err
	}
	return c, nil
}

// AddUser creates a user with a new password. Errors: ErrBadAddress,
// ErrNotLocal (the domain is not in the config's domains), ErrExists (a user
// or an alias has the address), ErrBadPassword.
func (f *FileDB) AddUser(address, password string) error {
	c, err := f.localAddress(address)
	if err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	// Hash before taking the lock: it is the slow part.
	h := hashPassword(password, f.params)
	err = f.update(func(d *db) error {
		if err := exists(d, c); err != nil {
			return err
		}
		d.users[c] = h
		return nil
	})
	if err == nil {
		f.log.Info("user added", "user", c)
	}
	return err
}

// DeleteUser removes a user. Their stored mail is not touched (it belongs
// to the mailbox store), and aliases that name them stay; Resolve skips
// the missing target. ErrNoUser when there is no such user.
func (f *FileDB) DeleteUser(address string) error {
	c, err := canonical(address, "")
	if err != nil {
		return err
	}
	err = f.update(func(d *db) error {
		if _, ok := d.users[c]; !ok {
			if _, ok := d.aliases[c]; ok {
				return fmt.Errorf("%w: %s is an alias, not a user", ErrNoUser, c)
			}
			return fmt.Errorf("%w: %s", ErrNoUser, c)
		}
		delete(d.users, c)
		return nil
	})
	if err == nil {
		f.log.Info("user deleted", "user", c)
	}
	return err
}

// SetPassword replaces a user's password. ErrNoUser, ErrBadPassword.
func (f *FileDB) SetPassword(address, password string) error {
	c, err := canonical(address, "")
	if err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	h := hashPassword(password, f.params)
	err = f.update(func(d *db) error {
		if _, ok := d.users[c]; !ok {
			return fmt.Errorf("%w: %s", ErrNoUser, c)
		}
		d.users[c] = h
		return nil
	})
	if err == nil {
		f.log.Info("password changed", "user", c)
	}
	return err
}

// ListUsers returns every user's canonical address, sorted.
func (f *FileDB) ListUsers() ([]string, error) {
	d, err := f.fresh()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(d.users))
	for u := range d.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

// AddAlias creates an alias. Each target is a local user or a local alias
// (or a subaddress of one) that exists when the alias is made; duplicates
// are dropped. A target in another domain is refused (refuseRemoteTarget):
// there is no outbound forwarding yet. Errors: ErrBadAddress (also for no
// targets, a target equal to the alias, or an alias that would loop back
// to itself), ErrNotLocal (the alias's domain, or a target's, is not
// local), ErrExists, ErrNoUser (a target that does not exist).
func (f *FileDB) AddAlias(alias string, targets []string) error {
	c, err := f.localAddress(alias)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return fmt.Errorf("%w: alias %s needs at least one target", ErrBadAddress, c)
	}
	var clean []string
	for _, t := range targets {
		n, err := normalizeTarget(t)
		if err != nil {
			return err
		}
		if err := f.refuseRemoteTarget(n); err != nil {
			return err
		}
		if slices.ContainsFunc(clean, func(s string) bool { return strings.EqualFold(s, n) }) {
			continue
		}
		clean = append(clean, n)
	}
	err = f.update(func(d *db) error {
		if err := exists(d, c); err != nil {
			return err
		}
		for _, t := range clean {
			tc, _ := canonical(t, "") // normalizeTarget checked it
			if _, dom := splitCanonical(tc); !f.IsLocalDomain(dom) {
				continue // none today: see refuseRemoteTarget
			}
			if tc == c {
				return fmt.Errorf("%w: alias %s cannot point to itself", ErrBadAddress, c)
			}
			x := expansion{f: f, d: d, seen: map[string]bool{}, log: f.log}
			if !x.expand(tc, 0) {
				return fmt.Errorf("%w: alias target %s is neither a user nor an alias", ErrNoUser, tc)
			}
			if reaches(d, tc, c, f) {
				return fmt.Errorf("%w: alias %s would loop back to itself through %s", ErrBadAddress, c, tc)
			}
		}
		d.aliases[c] = clean
		return nil
	})
	if err == nil {
		f.log.Info("alias added", "alias", c, "targets", len(clean))
	}
	return err
}

// reaches reports whether expanding from (canonical, local) through
// aliases ever names target.
func reaches(d *db, from, target string, f *FileDB) bool {
	seen := map[string]bool{}
	var walk func(a string) bool
	walk = func(a string) bool {
		if a == target {
			return true
		}
		if seen[a] {
			return false
		}
		seen[a] = true
		ts, ok := d.aliases[a]
		if !ok {
			local, dom := splitCanonical(a)
			if i := strings.Index(local, f.delim); i > 0 {
				ts, ok = d.aliases[local[:i]+"@"+dom]
			}
			if !ok {
				return false
			}
		}
		for _, t := range ts {
			if tc, err := canonical(t, ""); err == nil && walk(tc) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

// DeleteAlias removes an alias. ErrNoUser when there is no such alias.
func (f *FileDB) DeleteAlias(alias string) error {
	c, err := canonical(alias, "")
	if err != nil {
		return err
	}
	err = f.update(func(d *db) error {
		if _, ok := d.aliases[c]; !ok {
			if _, ok := d.users[c]; ok {
				return fmt.Errorf("%w: %s is a user, not an alias", ErrNoUser, c)
			}
			return fmt.Errorf("%w: no alias %s", ErrNoUser, c)
		}
		delete(d.aliases, c)
		return nil
	})
	if err == nil {
		f.log.Info("alias deleted", "alias", c)
	}
	return err
}

// ListAliases returns every alias with its targets as stored, sorted by
// alias.
func (f *FileDB) ListAliases() ([]Alias, error) {
	d, err := f.fresh()
	if err != nil {
		return nil, err
	}
	out := make([]Alias, 0, len(d.aliases))
	for a, ts := range d.aliases {
		out = append(out, Alias{Address: a, Targets: slices.Clone(ts)})
	}
	slices.SortFunc(out, func(a, b Alias) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

// fresh returns the database as the file holds it now, or the error that
// keeps it from being read (unlike snapshot, which falls back to the last
// good version: an admin listing must not show stale data silently).
func (f *FileDB) fresh() (*db, error) {
	d, sig, err := readFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("users: reading %s: %w", f.path, err)
	}
	f.mu.Lock()
	f.cur, f.sig, f.badSig = d, sig, nil
	f.mu.Unlock()
	return d, nil
}
