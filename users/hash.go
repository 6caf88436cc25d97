package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// HashParams are the argon2id parameters for new password hashes (RFC 9106).
// A zero field takes its default. Stored hashes carry their own parameters,
// so changing these affects only passwords set afterwards.
type HashParams struct {
	Time      uint32 // passes over memory (t); default 2
	MemoryKiB uint32 // memory in KiB (m); default 19456 (19 MiB)
	Threads   uint8  // lanes (p); default 1
	SaltLen   uint32 // bytes of random salt; default 16
	KeyLen    uint32 // bytes of derived key; default 32
}

// Defaults: the OWASP Password Storage Cheat Sheet's first argon2id
// configuration (m=19 MiB, t=2, p=1); RFC 9106 §3.1 asks for a 16-byte salt
// and suggests a 32-byte tag.
func (p HashParams) withDefaults() HashParams {
	if p.Time == 0 {
		p.Time = 2
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = 19 * 1024
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	if p.SaltLen == 0 {
		p.SaltLen = 16
	}
	if p.KeyLen == 0 {
		p.KeyLen = 32
	}
	return p
}

// check refuses parameters that would make hashes this package will not
// verify (see the bounds below).
func (p HashParams) check() error {
	if p.Time > maxArgonTime || p.MemoryKiB > maxArgonMemoryKiB || p.MemoryKiB < 8*uint32(p.Threads) ||
		p.SaltLen < minArgonSaltLen || p.SaltLen > maxArgonSaltLen ||
		p.KeyLen < minArgonKeyLen || p.KeyLen > maxArgonKeyLen {
		return fmt.Errorf("users: argon2id parameters out of range: t=%d (max %d), m=%d KiB (%d to %d), salt %d bytes (%d to %d), key %d bytes (%d to %d)",
			p.Time, maxArgonTime, p.MemoryKiB, 8*uint32(p.Threads), maxArgonMemoryKiB,
			p.SaltLen, minArgonSaltLen, maxArgonSaltLen, p.KeyLen, minArgonKeyLen, maxArgonKeyLen)
	}
	return nil
}

// Bounds on stored hashes, so that a damaged or hostile users.db cannot make
// one login cost gigabytes of memory or minutes of CPU.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 64
	minArgonKeyLen    = 16
	maxArgonKeyLen    = 64
	minArgonSaltLen   = 8
	maxArgonSaltLen   = 64
	maxBcryptCost     = 16
)

// errBadHash: a stored hash is not one we can verify.
var errBadHash = errors.New("unsupported or malformed password hash")

// argonHash is a decoded argon2id PHC string.
type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// b64 is the PHC string format's base64: standard alphabet, no padding; the
// strict variant rejects non-zero trailing bits so that each hash has one
// spelling.
var b64 = base64.RawStdEncoding.Strict()

// String encodes h in the PHC string format used by the argon2 reference
// implementation: $argon2id$v=19$m=M,t=T,p=P$salt$key.
func (h argonHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads,
		b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// parseArgon2id decodes a PHC string made by String, and rejects anything
// else, including parameters outside the bounds above.
func parseArgon2id(s string) (argonHash, error) {
	var h argonHash
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, errBadHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, errBadHash
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return h, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return h, errBadHash
		}
		vals[i] = n
	}
	h.memory, h.time = uint32(vals[0]), uint32(vals[1])
	if vals[2] < 1 || vals[2] > 255 || h.time < 1 || h.time > maxArgonTime ||
		h.memory > maxArgonMemoryKiB || uint64(h.memory) < 8*vals[2] {
		// RFC 9106 §3.1: memory is at least 8*p KiB.
		return h, errBadHash
	}
	h.threads = uint8(vals[2])
	// encoding/base64 skips CR and LF; a stored hash has neither.
	if strings.ContainsAny(parts[4]+parts[5], "\r\n") {
		return h, errBadHash
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil ||
		len(h.salt) < minArgonSaltLen || len(h.salt) > maxArgonSaltLen {
		return h, errBadHash
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil ||
		len(h.key) < minArgonKeyLen || len(h.key) > maxArgonKeyLen {
		return h, errBadHash
	}
	return h, nil
}

// hashPassword makes a new argon2id hash of password. (crypto/rand.Read
// cannot fail: the runtime aborts instead.)
func hashPassword(password string, p HashParams) string {
	p = p.withDefaults()
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	h := argonHash{
		memory:  p.MemoryKiB,
		time:    p.Time,
		threads: p.Threads,
		salt:    salt,
		key:     idKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen),
	}
	return h.String()
}

// isBcrypt reports whether s looks like a bcrypt hash ($2a$, $2b$, $2y$).
func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// checkHash reports whether a stored hash is one verifyPassword can use.
func checkHash(s string) error {
	if isBcrypt(s) {
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil || cost > maxBcryptCost || len(s) != 60 {
			return errBadHash
		}
		return nil
	}
	_, err := parseArgon2id(s)
	return err
}

// verifyPassword checks password against a stored hash in constant time.
// The error is errBadHash when the stored hash is unusable.
func verifyPassword(stored, password string) (bool, error) {
	if isBcrypt(stored) {
		if err := checkHash(stored); err != nil {
			return false, err
		}
		err := bcrypt.CompareHashAndPassword([]byte(stored), []byte(password))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
			return false, nil
		default:
			return false, errBadHash
		}
	}
	h, err := parseArgon2id(stored)
	if err != nil {
		return false, err
	}
	got := idKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// hashSlots bounds the argon2id computations that run at once to the
// number of CPUs. Each takes its memory parameter (19 MiB by default) as
// its work area, so a burst of logins (a phone reconnecting with several
// connections, a thousand IDLE sessions opening at once) would otherwise
// hold that much per login at the same time, and the Go runtime returns
// it to the system only slowly; more at once would not finish sooner, the
// hash being CPU-bound.
var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// hashesRunning counts computations in idKey (tests).
var hashesRunning, hashesPeak atomic.Int32

// idKey is argon2.IDKey within a hashSlots slot.
func idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	n := hashesRunning.Add(1)
	defer hashesRunning.Add(-1)
	for peak := hashesPeak.Load(); n > peak && !hashesPeak.CompareAndSwap(peak, n); peak = hashesPeak.Load() {
	}
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}
