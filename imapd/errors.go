package imapd

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

// Response codes the imap package does not name.
const (
	codeReadOnly       imap.ResponseCode = "READ-ONLY"
	codeExpungeIssued  imap.ResponseCode = "EXPUNGEISSUED" // RFC 5530 §3
	codeUseAttr        imap.ResponseCode = "USEATTR"       // RFC 6154 §6
	codeUnavailableMsg                   = "Service temporarily unavailable, try again later"
)

// errCtx says what a failed operation was, where RFC 9051 ties the
// response code to the command.
type errCtx int

const (
	// ctxPlain: the folder named is the one operated on (SELECT, STATUS,
	// DELETE, RENAME...): a missing one is NONEXISTENT.
	ctxPlain errCtx = iota
	// ctxTarget: the folder named receives messages (APPEND, COPY,
	// MOVE): RFC 9051 §6.3.12, §6.4.7: a missing one is TRYCREATE.
	ctxTarget
	// ctxAuth: a login; every failure is AUTHENTICATIONFAILED (RFC 9051
	// §6.2.3), whatever the user database said.
	ctxAuth
)

// protoError turns an error from the store, the user database or this
// package into what the client sees. It is the one place where internal
// errors meet the protocol (STYLE.md, "typed errors in, one mapping out"):
// the client gets a response code and fixed text, the log gets the detail.
// Errors already of type *imap.Error are ours and pass through.
func (ss *session) protoError(op string, ec errCtx, err error) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie
	}
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	expected := true
	var out error
	switch {
	case ec == ctxAuth || errors.Is(err, users.ErrAuthFailed):
		expected = errors.Is(err, users.ErrAuthFailed) || errors.Is(err, users.ErrNoUser) ||
			errors.Is(err, users.ErrNotLocal) || errors.Is(err, users.ErrBadAddress)
		out = errAuthFailed
	case errors.Is(err, mailbox.ErrNoMailbox):
		if ec == ctxTarget {
			out = no(imap.ResponseCodeTryCreate, "No such mailbox; create it first")
		} else {
			out = no(imap.ResponseCodeNonExistent, "No such mailbox")
		}
	case errors.Is(err, mailbox.ErrExists):
		out = no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, mailbox.ErrBadName):
		out = no(imap.ResponseCodeCannot, badNameText(err))
	case errors.Is(err, mailbox.ErrCannot):
		out = no(imap.ResponseCodeCannot, "Operation not permitted on this mailbox")
	case errors.Is(err, mailbox.ErrHasChildren):
		out = no(imap.ResponseCodeHasChildren, "Mailbox has children")
	case errors.Is(err, mailbox.ErrTooBig):
		out = no(imap.ResponseCodeTooBig, "Message too big")
	case errors.Is(err, mailbox.ErrOverQuota):
		out = no(imap.ResponseCodeOverQuota, "Over quota")
	case errors.Is(err, mailbox.ErrReadOnly):
		out = errReadOnly
	case errors.Is(err, mailbox.ErrNoMessage):
		out = no(codeExpungeIssued, "Message was expunged")
	case errors.Is(err, mailbox.ErrNoSpace):
		// RFC 5530 §3 UNAVAILABLE: a temporary failure of a subsystem.
		expected = false
		out = no(imap.ResponseCodeUnavailable, codeUnavailableMsg)
	case errors.Is(err, mailbox.ErrClosed), errors.Is(err, context.Canceled):
		out = no(imap.ResponseCodeUnavailable, "Server is shutting down")
	case errors.Is(err, mailbox.ErrNoUser):
		expected = false
		out = no(imap.ResponseCodeUnavailable, codeUnavailableMsg)
	default:
		expected = false
		out = no(imap.ResponseCodeServerBug, "Internal server error")
	}
	switch {
	case ec == ctxAuth:
		// Login logs its own line, with the name tried.
	case expected:
		ss.log.Debug("command failed", "op", op, "err", err)
	default:
		ss.log.Error("command failed", "op", op, "err", err)
	}
	return out
}

var (
	errAuthFailed = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeAuthenticationFailed,
		Text: "Authentication failed",
	}
	// RFC 5530 §3 AUTHORIZATIONFAILED: the credentials may be right, but
	// acting as the identity asked for is not allowed.
	errAuthzFailed = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeAuthorizationFailed,
		Text: "SASL identity not supported",
	}
	errPrivacyRequired = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodePrivacyRequired,
		Text: "TLS is required to authenticate",
	}
	errReadOnly = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: codeReadOnly,
		Text: "Mailbox is read-only",
	}
	errExpungeIssued = &imap.Error{
		// RFC 5530 §3: some of the messages asked for were expunged by
		// another session; the rest were answered.
		Type: imap.StatusResponseTypeOK,
		Code: codeExpungeIssued,
		Text: "Some messages were expunged meanwhile",
	}
)

// badNameTexts say why a folder name was refused where the client (or its
// user) can act on the reason; a "." above all, which is an ordinary
// character in IMAP names (our delimiter is "/") but the Maildir++
// hierarchy separator on disk (mailbox.ErrNameDot).
var badNameTexts = []struct {
	err  error
	text string
}{
	{mailbox.ErrNameDot, `Folder names cannot contain "." in this store; use another character such as "-" or "_"`},
	{mailbox.ErrNameTooLong, fmt.Sprintf("Folder name too long: the limit is %d bytes, parent folders included "+
		"(a non-ASCII character takes several)", mailbox.MaxFolderNameBytes)},
	{mailbox.ErrNameTooDeep, fmt.Sprintf("Folder name too deep: the limit is %d levels", mailbox.MaxFolderDepth)},
	{mailbox.ErrNameWildcard, `Folder names cannot contain "*" or "%" (LIST wildcards)`},
	{mailbox.ErrNameBackslash, `Folder names cannot contain "\"`},
}

// badNameText is the text for a mailbox.ErrBadName.
func badNameText(err error) string {
	for _, b := range badNameTexts {
		if errors.Is(err, b.err) {
			return b.text
		}
	}
	return "Invalid mailbox name"
}

// badRequest is a tagged BAD: the command is wrong, the session goes on.
func badRequest(text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: text}
}
