package config

// How a listener secures its connections.
const (
	SecuritySTARTTLS    = "STARTTLS"     // plain at first; the client upgrades (STARTTLS, STLS)
	SecurityImplicitTLS = "implicit TLS" // TLS from the first byte
)

// Listener is one configured service.
type Listener struct {
	Name     string // the key under [listen]: "smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"
	Address  string // as configured, "host:port"
	Security string // SecuritySTARTTLS or SecurityImplicitTLS
}

// Listeners returns the services that are on (a non-empty address), in a
// fixed order: smtp, submission, submissions, imap, imaps, pop3, pop3s.
// Every one offers TLS, since a certificate always exists (configured or
// self-signed); whether AUTH needs it is Auth.AllowPlaintext's business.
func (c *Config) Listeners() []Listener {
	all := []Listener{
		{"smtp", c.Listen.SMTP, SecuritySTARTTLS},                  // RFC 3207
		{"submission", c.Listen.Submission, SecuritySTARTTLS},      // RFC 6409, RFC 3207
		{"submissions", c.Listen.Submissions, SecurityImplicitTLS}, // RFC 8314 §3.3
		{"imap", c.Listen.IMAP, SecuritySTARTTLS},                  // RFC 9051 §6.2.1
		{"imaps", c.Listen.IMAPS, SecurityImplicitTLS},             // RFC 8314 §3.3
		{"pop3", c.Listen.POP3, SecuritySTARTTLS},                  // RFC 2595 §4 (STLS)
		{"pop3s", c.Listen.POP3S, SecurityImplicitTLS},             // RFC 8314 §3.3
	}
	var on []Listener
	for _, l := range all {
		if l.Address != "" {
			on = append(on, l)
		}
	}
	return on
}
