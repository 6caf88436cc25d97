package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// minPasswordChars is the shortest password the commands accept. The users
// package itself takes any non-empty password (its API serves tests and
// imports too); this rule is for passwords people choose here.
const minPasswordChars = 8

// passwordRule ends every message about an unacceptable password.
const passwordRule = "(a password has at least 8 characters, not all spaces, and at most 1024 bytes on one line)"

// checkChosenPassword refuses a new password that is empty, shorter than
// minPasswordChars characters, or nothing but white space. The users
// package then checks the rest (length in bytes, line breaks, NUL).
func checkChosenPassword(pw string) error {
	why := ""
	switch {
	case pw == "":
		why = "it is empty"
	case strings.TrimSpace(pw) == "":
		why = "it is only white space"
	case utf8.RuneCountInString(pw) < minPasswordChars:
		why = fmt.Sprintf("it is shorter than %d characters", minPasswordChars)
	default:
		return nil
	}
	return fmt.Errorf("unacceptable password: %s %s", why, passwordRule)
}

// maxPasswordRead bounds what is read for a password: the users package
// allows 1024 bytes; a little more lets it say "too long" rather than have
// the input cut silently.
const maxPasswordRead = 1024 + 3

// readNewPassword gets a new password for address. On a terminal it asks
// twice without echo (prompts on stderr); otherwise it takes the first line
// of stdin, without its line end. Whether the password is acceptable is
// the users package's decision.
func readNewPassword(address string, stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptTwice(int(f.Fd()), address, stderr)
	}
	r := bufio.NewReader(io.LimitReader(stdin, maxPasswordRead))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	if line == "" {
		return "", errors.New("no password on standard input: give it as the first line, like: mailsuite user add " + address + " < password-file")
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

func promptTwice(fd int, address string, stderr io.Writer) (string, error) {
	fmt.Fprintf(stderr, "New password for %s: ", address)
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(stderr, "Repeat it: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the two passwords differ; nothing was changed")
	}
	return string(first), nil
}
