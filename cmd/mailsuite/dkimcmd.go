package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mailsuite/mailsuite/smtpd/queue"
)

// dkimCommand runs `dkim keygen DOMAIN`: an Ed25519 and an RSA-2048 key
// under data_dir/dkim/DOMAIN, and the DNS records to publish.
func dkimCommand(inv invocation, rest []string, stdout io.Writer) error {
	_, args, err := subcommand("dkim", rest, map[string][2]int{"keygen": {1, 1}})
	if err != nil {
		return err
	}
	cfg, _, err := loadConfig(inv)
	if err != nil {
		return err
	}
	domain := strings.ToLower(strings.TrimSuffix(args[0], "."))
	if !slices.ContainsFunc(cfg.Domains, func(d string) bool { return strings.EqualFold(d, domain) }) {
		return usagef("%s is not one of this server's domains (%s); only their mail is signed", args[0], strings.Join(cfg.Domains, ", "))
	}
	recs, err := queue.Keygen(dkimDir(cfg), domain, time.Now())
	if errors.Is(err, queue.ErrKeysExist) {
		return err
	}
	if err != nil {
		return fmt.Errorf("dkim keygen: %w", err)
	}
	fmt.Fprintf(stdout, "DKIM keys for %s written to %s/%s\n", domain, dkimDir(cfg), domain)
	fmt.Fprintln(stdout, "Publish these DNS records, then restart mailsuite (or send it SIGHUP) to sign mail from "+domain+":")
	fmt.Fprintln(stdout)
	for _, r := range recs {
		fmt.Fprintln(stdout, r.Zone())
	}
	return nil
}
