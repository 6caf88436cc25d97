package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mailsuite/mailsuite/config"
	"github.com/mailsuite/mailsuite/users"
)

// RFC 5321 §4.5.1: every domain that receives mail MUST accept mail for
// postmaster@domain. The server does not invent one; these warnings tell
// the admin when a domain has none (config check) or has just lost it
// (user del, alias del), with the command that fixes it.

// postmasterAddresses returns postmaster@ each local domain, in the
// config's order, in lower case.
func postmasterAddresses(cfg *config.Config) []string {
	out := make([]string, len(cfg.Domains))
	for i, d := range cfg.Domains {
		out[i] = "postmaster@" + strings.ToLower(d)
	}
	return out
}

// postmasterFix is the command that gives postmaster@domain a reader: an
// alias to a user of that domain, else to any user, else a new user.
func postmasterFix(db *users.FileDB, postmaster string) string {
	list, _ := db.ListUsers()
	domain := postmaster[strings.IndexByte(postmaster, '@'):]
	if i := slices.IndexFunc(list, func(u string) bool { return strings.HasSuffix(u, domain) }); i >= 0 {
		return "mailsuite alias add " + postmaster + " " + list[i]
	}
	if len(list) > 0 {
		return "mailsuite alias add " + postmaster + " " + list[0]
	}
	return "mailsuite user add " + postmaster
}

// reachesNobody reports whether mail to addr would bounce as unknown.
func reachesNobody(db *users.FileDB, addr string) bool {
	_, err := db.ResolveQuietly(addr)
	return errors.Is(err, users.ErrNoUser)
}

// postmastersReached lists the postmaster addresses that reach a user now,
// before a change that may cut them off.
func (s *adminSession) postmastersReached() []string {
	var out []string
	for _, pm := range postmasterAddresses(s.cfg) {
		if !reachesNobody(s.db, pm) {
			out = append(out, pm)
		}
	}
	return out
}

// warnPostmastersLost warns, on w, for each address of before that now
// reaches nobody.
func (s *adminSession) warnPostmastersLost(before []string, w io.Writer) {
	for _, pm := range before {
		if reachesNobody(s.db, pm) {
			fmt.Fprintf(w, "mailsuite: warning: mail to %s will now bounce: it reaches nobody, and every mail domain must accept it (RFC 5321 §4.5.1); to fix it run: %s\n",
				pm, postmasterFix(s.db, pm))
		}
	}
}

// checkPostmasters is config check's look at the users database: a
// warning on w for each local domain whose postmaster reaches nobody. It
// creates nothing: a missing users file is an empty database.
func checkPostmasters(cfg *config.Config, w io.Writer) {
	db, err := users.OpenFile(cfg.UsersFile(), users.FileOptions{
		Domains:   cfg.Domains,
		Delimiter: cfg.RecipientDelimiter,
		Logger:    cliLogger(w),
		NoCreate:  true,
	})
	if err != nil {
		fmt.Fprintf(w, "mailsuite: warning: cannot check the postmaster addresses: %s\n", strings.TrimPrefix(err.Error(), "users: "))
		return
	}
	for _, pm := range postmasterAddresses(cfg) {
		if reachesNobody(db, pm) {
			fmt.Fprintf(w, "mailsuite: warning: %s reaches nobody, so mail to it bounces, and every mail domain must accept it (RFC 5321 §4.5.1); to fix it run: %s\n",
				pm, postmasterFix(db, pm))
		}
	}
}
