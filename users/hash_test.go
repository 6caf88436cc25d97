package users

import (
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashDefaults(t *testing.T) {
	h := hashPassword("correct horse", HashParams{})
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(h) {
		t.Fatalf("hash %q does not have the default PHC form", h)
	}
	parsed, err := parseArgon2id(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed.salt) != 16 || len(parsed.key) != 32 {
		t.Fatalf("salt %d bytes, key %d bytes; want 16 and 32", len(parsed.salt), len(parsed.key))
	}
	if h2 := hashPassword("correct horse", HashParams{}); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false, "correct horse ": false} {
		got, err := verifyPassword(h, pw)
		if err != nil || got != want {
			t.Errorf("verifyPassword(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
}

func TestHashParamsHonoured(t *testing.T) {
	h := hashPassword("pw", HashParams{Time: 3, MemoryKiB: 128, Threads: 2, SaltLen: 8, KeyLen: 16})
	if !strings.HasPrefix(h, "$argon2id$v=19$m=128,t=3,p=2$") {
		t.Fatalf("hash %q does not carry the given parameters", h)
	}
	p, err := parseArgon2id(h)
	if err != nil || len(p.salt) != 8 || len(p.key) != 16 {
		t.Fatalf("parse: %+v, %v", p, err)
	}
	if ok, err := verifyPassword(h, "pw"); !ok || err != nil {
		t.Fatalf("verify = %v, %v", ok, err)
	}
}

func TestParseArgon2idRejects(t *testing.T) {
	good := hashPassword("pw", fastParams)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	bad := []string{
		"",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=65,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=2000000,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=64,t=1,p=1$QUFB$" + key,                            // 3-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$QUFB",                      // 3-byte key
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "B", // non-zero trailing bits
		"x$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
	}
	for _, s := range bad {
		if _, err := parseArgon2id(s); err != errBadHash {
			t.Errorf("parseArgon2id(%q) = %v, want errBadHash", s, err)
		}
		if ok, err := verifyPassword(s, "pw"); ok || err == nil {
			t.Errorf("verifyPassword(%q) = %v, %v; want false and an error", s, ok, err)
		}
	}
}

func TestBcryptImport(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("imported pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	body := string(h)[3:] // after "$2a"
	for _, prefix := range []string{"$2a", "$2b", "$2y"} {
		stored := prefix + body
		if err := checkHash(stored); err != nil {
			t.Fatalf("checkHash(%s…) = %v", prefix, err)
		}
		if ok, err := verifyPassword(stored, "imported pw"); !ok || err != nil {
			t.Errorf("%s: right password: %v, %v", prefix, ok, err)
		}
		if ok, err := verifyPassword(stored, "imported pW"); ok || err != nil {
			t.Errorf("%s: wrong password: %v, %v", prefix, ok, err)
		}
	}
	// Too costly a hash, or a truncated one, is refused.
	for _, s := range []string{"$2b$17" + body[3:], string(h)[:59], "$2x" + body} {
		if err := checkHash(s); err == nil {
			t.Errorf("checkHash(%q) = nil, want an error", s)
		}
	}
}

func TestHashParamsCheck(t *testing.T) {
	for _, p := range []HashParams{
		{MemoryKiB: maxArgonMemoryKiB + 1}, {Time: maxArgonTime + 1}, {SaltLen: 4}, {KeyLen: 8}, {KeyLen: 65},
		{Threads: 4, MemoryKiB: 16},
	} {
		if err := p.withDefaults().check(); err == nil {
			t.Errorf("check(%+v) = nil, want an error", p)
		}
	}
	if err := (HashParams{}).withDefaults().check(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// FuzzParseArgon2id: no panic, and whatever parses re-encodes to itself.
func FuzzParseArgon2id(f *testing.F) {
	f.Add(hashPassword("pw", fastParams))
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Add("$2b$04$abcdefghijklmnopqrstuu")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseArgon2id(s)
		if err != nil {
			return
		}
		if h.String() != s {
			t.Fatalf("parse(%q) re-encodes as %q", s, h.String())
		}
	})
}

// However many logins check a password at once, no more argon2id
// computations run together than there are CPUs, each holding its work
// area (hashSlots).
func TestHashConcurrencyBounded(t *testing.T) {
	stored := hashPassword("secret-password", HashParams{Time: 1, MemoryKiB: 4096})
	hashesPeak.Store(0)
	var wg sync.WaitGroup
	for i := 0; i < 4*cap(hashSlots)+4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := verifyPassword(stored, "secret-password"); !ok || err != nil {
				t.Errorf("verify: %v %v", ok, err)
			}
		}()
	}
	wg.Wait()
	if peak := hashesPeak.Load(); peak > int32(cap(hashSlots)) || peak < 1 {
		t.Errorf("%d argon2id computations at once, want 1..%d", peak, cap(hashSlots))
	}
}
