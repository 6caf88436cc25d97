package users

import (
	"errors"
	"slices"
	"strings"
)

// MaySendAs reports whether user may send as address: the address, once
// resolved as a recipient would be (case folded, subaddress dropped, aliases
// expanded), reaches user. So alice@example.org may send as
// Alice@Example.org, alice+lists@example.org and team@example.org when the
// alias team reaches her, but not as bob@example.org, nor as an address in
// another domain, nor as a bare "postmaster" (a sender needs a domain).
//
// The submission service asks this for the envelope sender and for every
// From header address (RFC 6409 §6.1 lets a submission server check that
// the sender is authorised).
func (f *FileDB) MaySendAs(user, address string) (bool, error) {
	if !strings.Contains(address, "@") {
		return false, nil
	}
	targets, err := f.Resolve(address)
	switch {
	case errors.Is(err, ErrNotLocal), errors.Is(err, ErrNoUser), errors.Is(err, ErrBadAddress):
		return false, nil
	case err != nil:
		return false, err
	}
	return slices.Contains(targets, strings.ToLower(user)), nil
}
