package queue

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// Keyring holds the DKIM signing keys of each domain: the files
// DKIMDir/DOMAIN/SELECTOR.pem (PKCS #8 private keys), as `mailsuite dkim
// keygen` writes them. A domain with keys has its outgoing mail signed
// with each of them (RFC 8463 §1 suggests an Ed25519 and an RSA signature
// side by side while verifiers learn Ed25519).
type Keyring struct {
	domains map[string][]dkimKey
}

type dkimKey struct {
	selector string
	signer   crypto.Signer
}

// ErrKeysExist: keygen found keys for the domain already.
var ErrKeysExist = errors.New("queue: DKIM keys exist already")

// LoadKeys reads every key under dir; a missing dir is no keys. A file
// that is not a usable key is an error that names it.
func LoadKeys(dir string) (*Keyring, error) {
	k := &Keyring{domains: map[string][]dkimKey{}}
	doms, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	for _, d := range doms {
		if !d.IsDir() {
			continue
		}
		domain := strings.ToLower(d.Name())
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("dkim keys: %w", err)
		}
		for _, f := range files {
			sel, ok := strings.CutSuffix(f.Name(), ".pem")
			if !ok || f.IsDir() {
				continue
			}
			path := filepath.Join(dir, d.Name(), f.Name())
			if !validSelector(sel) {
				return nil, fmt.Errorf("dkim key %s: %q is not a valid selector (letters, digits, hyphens)", path, sel)
			}
			signer, err := readKey(path)
			if err != nil {
				return nil, fmt.Errorf("dkim key %s: %w", path, err)
			}
			k.domains[domain] = append(k.domains[domain], dkimKey{selector: sel, signer: signer})
		}
	}
	return k, nil
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" (PKCS #8) file")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch key := key.(type) {
	case ed25519.PrivateKey:
		return key, nil
	case *rsa.PrivateKey:
		// RFC 8301 §3.2 requires at least 1024 bits; Go's parser
		// already refuses smaller keys.
		return key, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (Ed25519 or RSA)", key)
}

// validSelector accepts a DNS label (RFC 6376 §3.1).
func validSelector(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Domains lists the domains that have keys.
func (k *Keyring) Domains() []string {
	var out []string
	for d := range k.domains {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Selectors lists a domain's selectors.
func (k *Keyring) Selectors(domain string) []string {
	var out []string
	for _, key := range k.domains[strings.ToLower(domain)] {
		out = append(out, key.selector)
	}
	return out
}

// signedHeaders are the fields signed (RFC 6376 §5.4.1's list). A name
// listed but absent is signed as absent, so that it cannot be added later
// without breaking the signature (§5.4.2).
var signedHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"In-Reply-To", "References", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
}

// overSigned are the fields whose every instance is signed and then the
// name once more (RFC 6376 §8.15, §5.4.2: "oversigning"): a From,
// Subject, ... added on the way, above or below the signed one, makes
// the signature fail, so that a verifier never shows a second, unsigned
// From as the sender.
var overSigned = map[string]bool{
	"from": true, "subject": true, "to": true, "cc": true, "date": true, "message-id": true, "reply-to": true,
}

// maxSignedHeader bounds the header section held while the names of its
// fields are counted; beyond it the signing goes on with what was seen.
const maxSignedHeader = 1 << 20

// headerKeys is the h= list for a header section: every instance of each
// name of signedHeaders (at least once: an absent name is signed as
// absent), and one more for the names of overSigned.
func headerKeys(header []byte) []string {
	count := map[string]int{}
	for _, line := range strings.SplitAfter(string(header), "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a folded field
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		count[strings.ToLower(strings.TrimRight(name, " \t"))]++
	}
	var keys []string
	for _, k := range signedHeaders {
		n := max(count[strings.ToLower(k)], 1)
		if overSigned[strings.ToLower(k)] && count[strings.ToLower(k)] > 0 {
			n++
		}
		for range n {
			keys = append(keys, k)
		}
	}
	return keys
}

// multiSigner computes one signature per key of a domain from one pass
// over the message. The header section is held until it is complete, so
// that the signed field names can follow what it holds (headerKeys);
// then the signers are made and fed. A signer that fails is dropped (and
// logged): the message goes out with the other signatures, or none,
// rather than not at all.
type multiSigner struct {
	domain  string
	log     *slog.Logger
	keys    []dkimKey
	head    []byte // the header section so far, until started
	started bool
	signers []*dkim.Signer
	sels    []string
	failed  []bool
	closed  bool
}

// newSigner returns a signer for domain, or nil when it has no keys.
func (k *Keyring) newSigner(domain string, log *slog.Logger) *multiSigner {
	domain = strings.ToLower(domain)
	keys := k.domains[domain]
	if len(keys) == 0 {
		return nil
	}
	return &multiSigner{domain: domain, log: log, keys: keys}
}

// start makes the signers for the header section held and feeds it to
// them.
func (m *multiSigner) start() {
	m.started = true
	hk := headerKeys(m.head)
	for _, key := range m.keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:   m.domain,
			Selector: key.selector,
			Signer:   key.signer,
			// Relaxed canonicalisation (RFC 6376 §3.4.2, §3.4.4)
			// survives the re-folding and white space changes of
			// relays on the way.
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             hk,
		})
		if err != nil {
			m.log.Error("dkim: cannot sign", "domain", m.domain, "selector", key.selector, "err", err)
			continue
		}
		m.signers = append(m.signers, s)
		m.sels = append(m.sels, key.selector)
		m.failed = append(m.failed, false)
	}
	head := m.head
	m.head = nil
	m.feed(head)
}

// Write holds the header section, then feeds every live signer; it never
// fails.
func (m *multiSigner) Write(p []byte) (int, error) {
	if m.started {
		m.feed(p)
		return len(p), nil
	}
	from := max(len(m.head)-3, 0)
	m.head = append(m.head, p...)
	if end := headerEnd(m.head, from); end >= 0 || len(m.head) > maxSignedHeader {
		m.start()
	}
	return len(p), nil
}

// headerEnd returns the offset after the blank line that ends the header
// section in b (searching from "from"), or -1.
func headerEnd(b []byte, from int) int {
	if len(b) >= 2 && string(b[:2]) == "\r\n" {
		return 2 // no header at all
	}
	if i := strings.Index(string(b[from:]), "\r\n\r\n"); i >= 0 {
		return from + i + 4
	}
	return -1
}

func (m *multiSigner) feed(p []byte) {
	for i, s := range m.signers {
		if m.failed[i] {
			continue
		}
		if _, err := s.Write(p); err != nil {
			m.failed[i] = true
			m.log.Error("dkim: signing failed", "domain", m.domain, "selector", m.sels[i], "err", err)
		}
	}
}

// finish returns the DKIM-Signature fields of the signers that worked.
func (m *multiSigner) finish() []string {
	if !m.started {
		m.start() // the message is all header
	}
	m.closed = true
	var out []string
	for i, s := range m.signers {
		if err := s.Close(); err != nil {
			if !m.failed[i] {
				m.log.Error("dkim: signing failed", "domain", m.domain, "selector", m.sels[i], "err", err)
			}
			continue
		}
		if !m.failed[i] {
			out = append(out, s.Signature())
		}
	}
	return out
}

// abort releases the signers when finish was not reached.
func (m *multiSigner) abort() {
	if m.closed {
		return
	}
	m.closed = true
	for _, s := range m.signers {
		s.Close()
	}
}

// KeyRecord is the DNS record that publishes one public key (RFC 6376
// §3.6.1).
type KeyRecord struct {
	Domain    string
	Selector  string
	Algorithm string // "ed25519" or "rsa"
	Value     string // the TXT record's text: "v=DKIM1; k=...; p=..."
}

// Name is the record's owner name: SELECTOR._domainkey.DOMAIN.
func (r KeyRecord) Name() string { return r.Selector + "._domainkey." + r.Domain }

// Zone renders the record as a zone file line. TXT strings are at most 255
// octets (RFC 1035 §3.3.14), so a long value is split into several
// quoted strings, which DKIM verifiers join (RFC 6376 §3.6.2.2).
func (r KeyRecord) Zone() string {
	v := r.Value
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	return r.Name() + ". IN TXT ( " + strings.Join(parts, " ") + " )"
}

// Keygen makes an Ed25519 key (RFC 8463) and an RSA-2048 key (RFC 8301
// §3.2) for domain under dir, with selectors named after today's date, and
// returns the DNS records to publish. It refuses to replace existing keys.
func Keygen(dir, domain string, now time.Time) ([]KeyRecord, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	ddir := filepath.Join(dir, domain)
	if ents, err := os.ReadDir(ddir); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".pem") {
				return nil, fmt.Errorf("%w for %s in %s (remove that directory to make new ones)", ErrKeysExist, domain, ddir)
			}
		}
	}
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return nil, err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	date := now.UTC().Format("20060102")
	keys := []struct {
		sel, algo string
		key       crypto.Signer
	}{
		{"ms" + date + "e", "ed25519", edKey},
		{"ms" + date + "r", "rsa", rsaKey},
	}
	fsys := realFS()
	var recs []KeyRecord
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return nil, err
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		tmp, err := fsys.writeTemp(ddir, "."+k.sel+".tmp", data)
		if err != nil {
			return nil, err
		}
		if err := fsys.Commit(tmp, filepath.Join(ddir, k.sel+".pem")); err != nil {
			return nil, err
		}
		var pub []byte
		switch p := k.key.Public().(type) {
		case ed25519.PublicKey:
			pub = p // RFC 8463 §4: the raw 32-octet key
		default:
			// RFC 6376 §3.6.1: an RSA key as SubjectPublicKeyInfo.
			if pub, err = x509.MarshalPKIXPublicKey(p); err != nil {
				return nil, err
			}
		}
		recs = append(recs, KeyRecord{Domain: domain, Selector: k.sel, Algorithm: k.algo,
			Value: "v=DKIM1; k=" + k.algo + "; p=" + base64.StdEncoding.EncodeToString(pub)})
	}
	if err := fsys.syncDir(ddir); err != nil {
		return nil, err
	}
	return recs, nil
}
