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
	s, err := openAdmin(inv, stderr)
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
		if err := s.db.DeleteAlias(args[0]); err != nil {
			return s.explainAlias(err, args[0], true)
		}
		fmt.Fprintf(stdout, "alias %s deleted\n", strings.ToLower(args[0]))
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
// missing alias (del) or a missing target (add).
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
	}
	return s.explain(err, alias)
}
