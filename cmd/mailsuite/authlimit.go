package main

import (
	"log/slog"

	"github.com/mailsuite/mailsuite/config"
	"github.com/mailsuite/mailsuite/users"
)

// newAuthLimiter wraps the user database in the one login limiter that
// SMTP AUTH, IMAP and POP3 share (users.Limited), set from [auth].
//
// It wraps users.DB rather than being one more field in each server's
// Options: every password check already goes through Users.Authenticate,
// so no front end (nor a future one) can forget to be limited, and the
// three front ends share one memory of failures without knowing of each
// other. They only say who is asking, with users.WithClient.
func newAuthLimiter(cfg *config.Config, db users.DB, log *slog.Logger) *users.Limited {
	a := cfg.Auth
	return users.NewLimited(db, users.LimitOptions{
		Window:         a.FailureWindow.Duration,
		Delay:          a.FailureDelay.Duration,
		MaxDelay:       a.MaxFailureDelay.Duration,
		IPLockout:      a.LockoutIPFailures,
		AccountLockout: a.LockoutAccountFailures,
		LockoutTime:    a.LockoutTime.Duration,
		Exempt:         a.ExemptPrefixes(),
		Logger:         log,
	})
}
