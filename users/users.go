// Package users owns accounts, password hashes, local domains and aliases:
// who may log in, and which mailboxes an address reaches. It stores no mail.
//
// The DB interface is what the servers use; Admin is what the command line
// uses to change accounts. The embedded file backend (FileDB) needs no
// server; a SQL backend can implement the same interfaces later.
//
// Addresses: a user is named by their full address. Domains compare
// case-insensitively; local parts are folded to lower case too, so
// Alice@Example.ORG and alice@example.org are one user. The canonical form
// (lower case, no subaddress) is what the store and the logs use.
package users

import (
	"context"
	"errors"
)

var (
	// ErrAuthFailed is returned for a wrong password and for an unknown
	// user alike, so that a caller cannot tell them apart.
	ErrAuthFailed = errors.New("users: authentication failed")
	// ErrNoUser: the address is in a local domain but reaches nobody.
	ErrNoUser = errors.New("users: no such user")
	// ErrNotLocal: the address's domain is not one of ours.
	ErrNotLocal = errors.New("users: domain is not local")
	// ErrExists: a user or alias of that address already exists.
	ErrExists = errors.New("users: address already exists")
	// ErrBadAddress: the text is not an address we accept.
	ErrBadAddress = errors.New("users: invalid address")
	// ErrBadPassword: a new password is unacceptable (empty, too long).
	ErrBadPassword = errors.New("users: unacceptable password")
)

// DB answers the servers' questions. Implementations are safe for
// concurrent use and see changes made by Admin (even from another process)
// without a restart.
type DB interface {
	// Authenticate checks a login and returns the user's canonical address.
	Authenticate(ctx context.Context, address, password string) (string, error)
	// Resolve maps a recipient address to the canonical addresses of the
	// users it reaches (aliases expanded, subaddress dropped, duplicates
	// removed). ErrNotLocal or ErrNoUser when it reaches nobody.
	Resolve(address string) ([]string, error)
	// IsLocalDomain reports whether mail for domain is ours.
	IsLocalDomain(domain string) bool
	// MaySendAs reports whether the user (a canonical address, as
	// Authenticate returns it) may use address as a sender: it is their
	// own address, a subaddress of it, or an alias that reaches them.
	// The error is for a failing database only; an address that is
	// malformed, foreign or unknown is simply not allowed.
	MaySendAs(user, address string) (bool, error)
	// HasUser reports whether user (a canonical address, as Authenticate
	// returns it) is still an account. The IMAP and POP3 sessions ask it
	// before every command, so that a user deleted while connected loses
	// access: it must be cheap, an in-memory lookup, and may see a change
	// made by another process a moment late (FileOptions.RecheckInterval).
	HasUser(user string) bool
}

// Alias is one alias and the addresses it expands to.
type Alias struct {
	Address string
	Targets []string
}

// Admin changes the database (the mailsuite user and alias commands).
type Admin interface {
	AddUser(address, password string) error
	DeleteUser(address string) error
	SetPassword(address, password string) error
	ListUsers() ([]string, error)
	AddAlias(alias string, targets []string) error
	DeleteAlias(alias string) error
	ListAliases() ([]Alias, error)
}
