package users

import (
	"context"
	"crypto/rand"
)

// Authenticate checks a login. The login name is the user's full address,
// in any case; it returns the canonical address. A wrong password, an
// unknown user, an alias, a domain that is not local and a malformed name
// all give the same ErrAuthFailed, and an unknown name still costs one
// verification against a dummy hash, so that neither the answer nor its
// timing tells a caller who exists. Only ctx's error is returned otherwise.
//
// This method is as slow as the hash makes it; Limited (ratelimit.go)
// wraps it to slow down and lock out repeated failures, by the client the
// front end puts on ctx (WithClient).
func (f *FileDB) Authenticate(ctx context.Context, address, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(password) > maxPasswordLen || password == "" {
		// No account can have such a password (checkPassword); refusing
		// without hashing tells nothing about the user.
		return "", ErrAuthFailed
	}
	stored, user, reason := "", "", "no such user"
	if c, err := canonical(address, ""); err == nil {
		_, domain := splitCanonical(c)
		if f.IsLocalDomain(domain) {
			if h, ok := f.snapshot().users[c]; ok {
				stored, user = h, c
			}
		} else {
			reason = "domain is not local"
		}
	} else {
		reason = "malformed login name"
	}
	if user == "" {
		// Same work as a real check, so that a missing user is not faster.
		verifyPassword(f.dummyHash(), password)
		f.log.Debug("authentication failed", "login", truncate(address, maxAddressLen), "reason", reason)
		return "", ErrAuthFailed
	}
	ok, err := verifyPassword(stored, password)
	if err != nil {
		f.log.Error("stored password hash cannot be used; reset it with mailsuite user passwd", "user", user, "err", err)
		return "", ErrAuthFailed
	}
	if !ok {
		f.log.Debug("authentication failed", "user", user, "reason", "wrong password")
		return "", ErrAuthFailed
	}
	return user, nil
}

// dummyHash is an argon2id hash, with this DB's parameters, of a random
// password nobody knows. It is made on first use.
func (f *FileDB) dummyHash() string {
	f.dummyOnce.Do(func() {
		f.dummy = hashPassword(rand.Text(), f.params)
	})
	return f.dummy
}

// truncate shortens s for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
