package pop3d

import (
	"context"
	"errors"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

// errorReply is the one place where errors from users, mailbox and this
// package become POP3 answers. The client gets a response code and a
// generic text; the detail of err belongs in the log only.
func errorReply(err error) string {
	switch {
	case isAuthError(err):
		// RFC 3206: [AUTH], the same text for an unknown user and a
		// wrong password.
		return "-ERR [AUTH] authentication failed"
	case errors.Is(err, errInUse):
		// RFC 2449 §8.1.2.
		return "-ERR [IN-USE] maildrop already in use"
	case errors.Is(err, mailbox.ErrNoMessage):
		return "-ERR no such message"
	case errors.Is(err, mailbox.ErrNoUser), errors.Is(err, mailbox.ErrNoMailbox):
		// RFC 3206: [SYS/PERM], a problem that will not go away by
		// retrying.
		return "-ERR [SYS/PERM] maildrop unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, mailbox.ErrClosed):
		return "-ERR [SYS/TEMP] server shutting down"
	default:
		// RFC 3206: [SYS/TEMP], storage or system trouble; retry later.
		return "-ERR [SYS/TEMP] temporary server error, try again later"
	}
}

// isAuthError reports whether err means the credentials were refused.
// users.DB returns ErrAuthFailed for unknown users and wrong passwords
// alike; the others are mapped the same way in case a backend leaks them.
func isAuthError(err error) bool {
	return errors.Is(err, users.ErrAuthFailed) ||
		errors.Is(err, users.ErrNoUser) ||
		errors.Is(err, users.ErrNotLocal) ||
		errors.Is(err, users.ErrBadAddress)
}
