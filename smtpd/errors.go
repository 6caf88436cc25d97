package smtpd

import (
	"errors"

	"github.com/emersion/go-smtp"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/smtpd/queue"
	"github.com/mailsuite/mailsuite/users"
)

// Conditions found by the sessions. reply maps them, and the errors of the
// store, the user database and go-smtp, to what the client is told.
var (
	errAuthRequired      = errors.New("smtpd: MAIL before AUTH on submission")
	errNestedMail        = errors.New("smtpd: MAIL inside a transaction")
	errTooManyRcpts      = errors.New("smtpd: recipient limit reached")
	errNoRecipients      = errors.New("smtpd: no valid recipients")
	errRelayDenied       = errors.New("smtpd: relaying denied on the inbound service")
	errNoOutbound        = errors.New("smtpd: remote recipient, outbound relay not built yet")
	errAuthNotOffered    = errors.New("smtpd: AUTH on the inbound service")
	errNeedStartTLS      = errors.New("smtpd: AUTH before STARTTLS")
	errNeedTLS           = errors.New("smtpd: AUTH without TLS, none available")
	errAuthMechanism     = errors.New("smtpd: unknown SASL mechanism")
	errAuthMalformed     = errors.New("smtpd: malformed SASL response")
	errAuthFailed        = errors.New("smtpd: authentication failed")
	errTooManyAuthFailed = errors.New("smtpd: too many failed AUTH attempts")
	errAuthUnavailable   = errors.New("smtpd: user database failed during AUTH")
	errDataTimeout       = errors.New("smtpd: no message data within the read timeout")
	errShutdown          = errors.New("smtpd: connection cut at shutdown")
	errUsersUnavailable  = errors.New("smtpd: user database failed")
	errSenderNotOwned    = errors.New("smtpd: sender address not owned by the authenticated user")
	errFromNotOwned      = errors.New("smtpd: From header address not owned by the authenticated user")
	errBadHeader         = errors.New("smtpd: message header cannot be parsed")
	errHeaderTooBig      = errors.New("smtpd: message header section too big")
)

// Replies. RFC 3463 gives the enhanced codes.
var (
	replyAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"} // RFC 4954 §6
	replyNestedMail = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "Sender already specified"} // RFC 5321 §4.1.4
	replyTooManyRcpts = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
		Message: "Too many recipients"} // RFC 5321 §4.5.3.1.10
	replyNoRecipients = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "No valid recipients"} // RFC 5321 §3.3
	replyRelayDenied = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Relay access denied"}
	replyNoOutbound = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: "Relaying to other domains is not available yet, try again later"}
	replyNoUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such user here"}
	replyAddrSyntax = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Bad recipient address syntax"}
	replyAddrTooLong = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Address too long"} // RFC 5321 §4.5.3.1.10: "501 Path too long"
	replyAddrRouting = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Routed addresses ('%', '!', '@') are not accepted"}
	replyAddrLiteral = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Address literals are not accepted as recipients"}
	replyAddrQuoted = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Quoted local parts are not accepted"}
	replyAddrNonASCII = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
		Message: "Non-ASCII address without SMTPUTF8"} // RFC 6531 §3.5: 553 at RCPT
	replySenderASCII = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
		Message: "Non-ASCII sender address without SMTPUTF8"} // RFC 6531 §3.5: 550 at MAIL
	replySenderSyntax = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7},
		Message: "Bad sender address syntax"}

	replyAuthNotOffered = &smtp.SMTPError{Code: 502, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "AUTH is not available on this port"}
	replyNeedStartTLS = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Must issue a STARTTLS command first"} // RFC 3207 §4
	replyNeedTLS = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
		Message: "Encryption required for requested authentication mechanism"} // RFC 4954 §6
	replyAuthMechanism = &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4},
		Message: "Unrecognized authentication type"} // RFC 4954 §4
	replyAuthMalformed = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Malformed authentication response"} // RFC 4954 §4
	replyAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "Authentication credentials invalid"} // RFC 4954 §6
	replyTooManyAuthFailed = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many failed authentication attempts, closing connection"}
	replyAuthUnavailable = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure"} // RFC 4954 §6

	replyNoSpace = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1},
		Message: "Insufficient system storage"}
	replyOverQuota = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2},
		Message: "Mailbox full"}
	replyTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message too big"}
	replyLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Line too long"} // RFC 5321 §4.5.3.1.10
	replyLocalError = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary local problem, try again later"}
	// RFC 5321 §4.5.3.2.5 and §3.8: the connection is closed after it.
	replyDataTimeout = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Timeout waiting for message data, closing connection"}
	// RFC 5321 §3.8: a server shutting down says 421, then closes.
	replyShutdown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Service shutting down, closing connection"}

	// RFC 6409 §6.1: the submission server may refuse a sender the user
	// is not allowed to use; 553 (RFC 5321 §4.2.2 "mailbox name not
	// allowed") with 5.7.1 (RFC 3463 "delivery not authorized").
	replySenderNotOwned = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Sender address rejected: not owned by the authenticated user"}
	replyFromNotOwned = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "From header address rejected: not owned by the authenticated user"}
	replyBadHeader = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Malformed message header"}
	replyHeaderTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message header too big"}
)

// replies maps each known condition to its reply; errors.Is decides, so
// wrapped errors map like their sentinel.
var replies = []struct {
	err   error
	reply *smtp.SMTPError
}{
	{errAuthRequired, replyAuthRequired},
	{errNestedMail, replyNestedMail},
	{errTooManyRcpts, replyTooManyRcpts},
	{errNoRecipients, replyNoRecipients},
	{errRelayDenied, replyRelayDenied},
	{errNoOutbound, replyNoOutbound},
	{errAddrSyntax, replyAddrSyntax},
	{errAddrTooLong, replyAddrTooLong},
	{errAddrRouting, replyAddrRouting},
	{errAddrLiteral, replyAddrLiteral},
	{errAddrQuoted, replyAddrQuoted},
	{errAddrNonASCII, replyAddrNonASCII},
	{errSenderSyntax, replySenderSyntax},
	{errSenderASCII, replySenderASCII},
	{errAuthNotOffered, replyAuthNotOffered},
	{errNeedStartTLS, replyNeedStartTLS},
	{errNeedTLS, replyNeedTLS},
	{errAuthMechanism, replyAuthMechanism},
	{errAuthMalformed, replyAuthMalformed},
	{errAuthFailed, replyAuthFailed},
	{errTooManyAuthFailed, replyTooManyAuthFailed},
	{errAuthUnavailable, replyAuthUnavailable},
	{errDataTimeout, replyDataTimeout},
	{errShutdown, replyShutdown},
	{errUsersUnavailable, replyLocalError},
	{errSenderNotOwned, replySenderNotOwned},
	{errFromNotOwned, replyFromNotOwned},
	{errBadHeader, replyBadHeader},
	{errHeaderTooBig, replyHeaderTooBig},
	{queue.ErrNoSpace, replyNoSpace},

	{users.ErrAuthFailed, replyAuthFailed},
	{users.ErrNoUser, replyNoUser},
	{users.ErrNotLocal, replyRelayDenied}, // resolve turns it into the mode's answer first
	{users.ErrBadAddress, replyAddrSyntax},
	{mailbox.ErrNoUser, replyNoUser},
	{mailbox.ErrNoSpace, replyNoSpace},
	{mailbox.ErrOverQuota, replyOverQuota},
	{mailbox.ErrTooBig, replyTooBig},
	{smtp.ErrTooLongLine, replyLineTooLong},
}

// reply is the one place where an error becomes an SMTP reply. Every
// session method returns its errors through it: go-smtp sends the text of
// any error that is not an *smtp.SMTPError to the client, and this function
// guarantees that only our own fixed texts (or go-smtp's own replies, such as
// the size limit hit while reading DATA) get there. Anything unknown is a
// temporary local problem; the caller logs the detail.
func reply(err error) *smtp.SMTPError {
	if err == nil {
		return nil
	}
	for _, r := range replies {
		if errors.Is(err, r.err) {
			return r.reply
		}
	}
	// go-smtp's own replies, e.g. ErrDataTooLarge (552 5.3.4) from the
	// DATA reader, handed back to us by the store.
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return replyLocalError
}
