//go:build !linux

package main

import "errors"

// dropPrivileges is built for Linux only, where Go changes the IDs of every
// thread; elsewhere, let the service manager start mailsuite as the user.
func dropPrivileges(u *runAs) error {
	return errors.New("server.user is supported on Linux only; start mailsuite as " + u.name + " from the service manager instead")
}
