package smtpd

import (
	"bytes"
	"strings"

	"github.com/emersion/go-sasl"
)

// maxSASLField bounds each of user name, authorization identity and
// password. RFC 4616 §2 asks to support at least 255 octets.
const maxSASLField = 1024

// authFunc checks a login; it returns nil or a reply() error.
type authFunc func(mech, username, password string) error

// plainServer is the PLAIN mechanism (RFC 4616). go-sasl has one, but its
// errors carry their own text, which go-smtp would send to the client.
type plainServer struct {
	auth authFunc
	done bool
}

var _ sasl.Server = (*plainServer)(nil)

func (p *plainServer) Next(response []byte) ([]byte, bool, error) {
	if p.done {
		return nil, true, reply(errAuthMalformed)
	}
	// RFC 4954 §4: without an initial response the server sends an
	// empty challenge and the client answers with the message.
	if response == nil {
		return []byte{}, false, nil
	}
	p.done = true
	// RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 {
		return nil, true, reply(errAuthMalformed)
	}
	authzid, authcid, passwd := string(parts[0]), string(parts[1]), string(parts[2])
	if authcid == "" || len(authzid) > maxSASLField || len(authcid) > maxSASLField || len(passwd) > maxSASLField {
		return nil, true, reply(errAuthMalformed)
	}
	// RFC 4616 §2: acting as another identity is not supported; an
	// authzid must name the same user (the users DB folds case).
	if authzid != "" && !strings.EqualFold(authzid, authcid) {
		return nil, true, reply(errAuthFailed)
	}
	return nil, true, p.auth(mechPlain, authcid, passwd)
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login-00): the
// server prompts "Username:" then "Password:"; a client may send the user
// name as the initial response (as go-sasl's client does).
type loginServer struct {
	auth     authFunc
	username []byte
	step     int // 0: start, 1: want user name, 2: want password, 3: done
}

var _ sasl.Server = (*loginServer)(nil)

var (
	loginUserPrompt = []byte("Username:")
	loginPassPrompt = []byte("Password:")
)

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return loginUserPrompt, false, nil
		}
		return l.gotUser(response)
	case 1:
		return l.gotUser(response)
	case 2:
		l.step = 3
		if len(response) > maxSASLField {
			return nil, true, reply(errAuthMalformed)
		}
		return nil, true, l.auth(mechLogin, string(l.username), string(response))
	}
	return nil, true, reply(errAuthMalformed)
}

func (l *loginServer) gotUser(response []byte) ([]byte, bool, error) {
	if len(response) == 0 || len(response) > maxSASLField {
		l.step = 3
		return nil, true, reply(errAuthMalformed)
	}
	l.username = bytes.Clone(response)
	l.step = 2
	return loginPassPrompt, false, nil
}
