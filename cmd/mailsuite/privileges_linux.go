package main

import (
	"fmt"
	"os"
	"syscall"
)

// dropPrivileges switches the whole process (every thread: Go applies
// these calls to all threads on Linux) to u for good: supplementary
// groups, then the group, then the user, whose real, effective and saved
// IDs all change, so there is no way back. It checks that there is none.
func dropPrivileges(u *runAs) error {
	groups := u.groups
	if groups == nil {
		groups = []int{}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("switching to user %s: setgroups: %w", u.name, err)
	}
	if err := syscall.Setgid(u.gid); err != nil {
		return fmt.Errorf("switching to user %s: setgid(%d): %w", u.name, u.gid, err)
	}
	if err := syscall.Setuid(u.uid); err != nil {
		return fmt.Errorf("switching to user %s: setuid(%d): %w", u.name, u.uid, err)
	}
	if os.Getuid() != u.uid || os.Geteuid() != u.uid || os.Getgid() != u.gid || os.Getegid() != u.gid {
		return fmt.Errorf("switching to user %s: still uid %d/%d gid %d/%d", u.name, os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
	}
	if syscall.Setuid(0) == nil {
		return fmt.Errorf("switching to user %s: root could be regained", u.name)
	}
	return nil
}
