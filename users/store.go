package users

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// The users file is JSON, chosen so that an admin can read it and a script
// can edit it without a parser of our own:
//
//	{
//	  "version": 1,
//	  "users": {
//	    "alice@example.org": {"password": "$argon2id$v=19$m=19456,t=2,p=1$…$…"}
//	  },
//	  "aliases": {
//	    "postmaster@example.org": ["alice@example.org"]
//	  }
//	}
//
// Keys are canonical addresses (lower case); encoding/json writes them
// sorted, so successive versions diff cleanly. Passwords are argon2id PHC
// strings, or bcrypt hashes imported from elsewhere. Unknown fields are an
// error, so that a typo in a hand edit is reported rather than ignored.

// fileVersion is the only version of the format so far.
const fileVersion = 1

type fileFormat struct {
	Version int                 `json:"version"`
	Users   map[string]fileUser `json:"users"`
	Aliases map[string][]string `json:"aliases"`
}

type fileUser struct {
	Password string `json:"password"`
}

// db is one consistent snapshot of the file. It is never changed once
// published; writers build a new one.
type db struct {
	users   map[string]string   // canonical address -> password hash
	aliases map[string][]string // canonical alias -> targets as stored
}

func emptyDB() *db {
	return &db{users: map[string]string{}, aliases: map[string][]string{}}
}

func (d *db) clone() *db {
	n := &db{users: maps.Clone(d.users), aliases: make(map[string][]string, len(d.aliases))}
	for k, v := range d.aliases {
		n.aliases[k] = slices.Clone(v)
	}
	return n
}

// errFormat wraps every problem found in the file's content.
var errFormat = errors.New("users file is not valid")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errFormat, fmt.Sprintf(format, args...))
}

// decodeDB parses the file's content. An empty file is an empty database.
// Addresses are checked for syntax but not against the delimiter or the
// local domains, which the config may change after they were added.
func decodeDB(data []byte) (*db, error) {
	d := emptyDB()
	if len(bytes.TrimSpace(data)) == 0 {
		return d, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileFormat
	if err := dec.Decode(&f); err != nil {
		return nil, formatErr("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, formatErr("unexpected data after the JSON object")
	}
	if f.Version != fileVersion {
		return nil, formatErr("version is %d; this mailsuite reads version %d", f.Version, fileVersion)
	}
	for addr, u := range f.Users {
		c, err := canonical(addr, "")
		if err != nil {
			return nil, formatErr("user %q: %v", addr, err)
		}
		if _, dup := d.users[c]; dup {
			return nil, formatErr("user %q is listed twice (addresses ignore case)", c)
		}
		if err := checkHash(u.Password); err != nil {
			return nil, formatErr("user %q: password is not an argon2id or bcrypt hash we accept", c)
		}
		d.users[c] = u.Password
	}
	for addr, targets := range f.Aliases {
		c, err := canonical(addr, "")
		if err != nil {
			return nil, formatErr("alias %q: %v", addr, err)
		}
		if _, dup := d.aliases[c]; dup {
			return nil, formatErr("alias %q is listed twice (addresses ignore case)", c)
		}
		if _, isUser := d.users[c]; isUser {
			return nil, formatErr("%q is both a user and an alias", c)
		}
		if len(targets) == 0 {
			return nil, formatErr("alias %q has no targets", c)
		}
		for _, t := range targets {
			if _, err := normalizeTarget(t); err != nil {
				return nil, formatErr("alias %q: target: %v", c, err)
			}
		}
		d.aliases[c] = slices.Clone(targets)
	}
	return d, nil
}

// encodeDB renders d in the file format, indented, with a final newline.
func encodeDB(d *db) ([]byte, error) {
	f := fileFormat{
		Version: fileVersion,
		Users:   make(map[string]fileUser, len(d.users)),
		Aliases: d.aliases,
	}
	for a, h := range d.users {
		f.Users[a] = fileUser{Password: h}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // addresses may hold & (atext); keep them legible
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// normalizeTarget returns the form in which an alias target is stored: an
// address with its domain in lower case. The local part keeps its case,
// since a remote host may treat it as significant (RFC 5321 §2.4); local
// lookups fold it anyway. A subaddress is allowed ("bob+lists@…").
func normalizeTarget(t string) (string, error) {
	if _, _, err := splitAddress(t, ""); err != nil {
		return "", err
	}
	at := strings.LastIndexByte(t, '@')
	return t[:at] + "@" + strings.ToLower(t[at+1:]), nil
}
