package main

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dialIMAP connects (TLS as -tls says) and logs in. h, when not nil,
// receives unsolicited responses (EXISTS during IDLE).
func (o *options) dialIMAP(ctx context.Context, h *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	conn, err := o.dialImplicit(ctx, o.imapPort)
	if err != nil {
		return nil, err
	}
	opts := &imapclient.Options{UnilateralDataHandler: h, TLSConfig: o.tlsCfg}
	var c *imapclient.Client
	if o.tlsMode == "starttls" {
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("STARTTLS: %w", err)
		}
	} else {
		c = imapclient.New(conn, opts)
	}
	if err := c.Login(o.user, o.pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("LOGIN: %w", err)
	}
	return c, nil
}

// openMailbox logs in and selects -mailbox (EXAMINE when readOnly).
func (o *options) openMailbox(ctx context.Context, readOnly bool, h *imapclient.UnilateralDataHandler) (*imapclient.Client, *imap.SelectData, error) {
	c, err := o.dialIMAP(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	sel, err := c.Select(o.mailbox, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("SELECT %s: %w", o.mailbox, err)
	}
	return c, sel, nil
}

// closeIMAP logs out politely and closes.
func closeIMAP(c *imapclient.Client) {
	c.Logout().Wait()
	c.Close()
}

// uidCount counts the UIDs in a static set.
func uidCount(s imap.NumSet) int {
	n := 0
	switch set := s.(type) {
	case imap.UIDSet:
		for _, r := range set {
			if r.Stop >= r.Start {
				n += int(r.Stop-r.Start) + 1
			}
		}
	case imap.SeqSet:
		for _, r := range set {
			if r.Stop >= r.Start {
				n += int(r.Stop-r.Start) + 1
			}
		}
	}
	return n
}
