package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mailsuite/mailsuite/users"
)

func aliasCommand(inv invocation, rest []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("alias", rest, map[string][2]int{
		"add": {2, -1}, "del": {1, 1}, "list": {0, 0},
	})
	if err != nil {
		return err
	}
	s, err := openAdmin(inv, sub == "add", stderr)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		alias := args[0]
		// Targets may also be given comma-separated: "a@x,b@y".
		var targets []string
		for _, a := range args[1:] {
			for _, t := range strings.Split(a, ",") {
				if t = strings.TrimSpace(t); t != "" {
					targets = append(targets, t)
				}
			}
		}
		if len(targets) == 0 {
			return usagef("alias add needs an ALIAS and at least one TARGET")
		}
		if err := s.db.AddAlias(alias, targets); err != nil {
			return s.explainAlias(err, alias, false)
		}
		list, err := s.db.ListAliases()
		if err != nil {
			return err
		}
		lower := strings.ToLower(alias)
		for _, a := range list {
			if a.Address == lower {
				fmt.Fprintf(stdout, "alias %s -> %s added\n", a.Address, strings.Join(a.Targets, ", "))
			}
		}
		return nil
	case "del":
		reached := s.postmastersReached()
		if err := s.db.DeleteAlias(args[0]); err != nil {
			return s.explainAlias(err, args[0], true)
		}
		lower := strings.ToLower(args[0])
		fmt.Fprintf(stdout, "alias %s deleted\n", lower)
		s.noteAliasesListing(lower, stdout)
		s.warnPostmastersLost(reached, stderr)
		return nil
	default: // list
		list, err := s.db.ListAliases()
		if err != nil {
			return err
		}
		for _, a := range list {
			fmt.Fprintf(stdout, "%s -> %s\n", a.Address, strings.Join(a.Targets, ", "))
		}
		return nil
	}
}

// explainAlias is explain for alias commands, where ErrNoUser means a
// missing alias (del) or a missing target (add), ErrExists may be a user
// holding the name, and ErrNotLocal may be about a target.
func (s *adminSession) explainAlias(err error, alias string, deleting bool) error {
	lower := strings.ToLower(alias)
	switch {
	case errors.Is(err, users.ErrNoUser) && deleting:
		if s.isUser(lower) {
			return fmt.Errorf("%s is a user, not an alias; to delete a user run: mailsuite user del %s", lower, lower)
		}
		return fmt.Errorf("there is no alias %s; see mailsuite alias list", lower)
	case errors.Is(err, users.ErrNoUser):
		// "alias target x is neither a user nor an alias"
		detail := strings.TrimPrefix(err.Error(), users.ErrNoUser.Error()+": ")
		return fmt.Errorf("%s; add it first (mailsuite user add) or check the spelling", detail)
	case errors.Is(err, users.ErrExists) && s.isUser(lower):
		return fmt.Errorf("a user named %s exists, so it cannot also be an alias; choose another name for the alias", lower)
	case errors.Is(err, users.ErrNotLocal) && s.db.IsLocalDomain(lower[strings.LastIndexByte(lower, '@')+1:]):
		// The alias is in a local domain, so a target is not:
		// "alias target x is not in a local domain; outbound …".
		detail := strings.TrimPrefix(err.Error(), users.ErrNotLocal.Error()+": ")
		return errors.New(strings.Replace(detail, "is not in a local domain",
			"is not in a local domain ("+strings.Join(s.cfg.Domains, ", ")+")", 1))
	}
	return s.explain(err, alias)
}
