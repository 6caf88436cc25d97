package main

import (
	"bufio"
	"net"
	"testing"
)

// fetchBodies counts every BODY[] the server sends, whatever its form and
// place in the response, and nothing else.
func TestRawFetchBodiesCounts(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := &rawIMAP{nc: client, r: bufio.NewReader(client)}
	script := "* 1 FETCH (BODY[] {5}\r\nhello)\r\n" +
		"* 3 EXISTS\r\n" +
		"* 2 FETCH (UID 7 BODY[] {0}\r\n)\r\n" +
		"* 2 FETCH (FLAGS (\\Seen))\r\n" +
		"* 3 FETCH (BODY[] \"\" UID 9)\r\n" +
		"* 4 FETCH (BODY[HEADER] {4}\r\nab\r\n BODY[] {3}\r\nxyz)\r\n" +
		"* 5 FETCH (BODY[] \"a\\\"b\")\r\n" +
		"m1 OK done\r\n"
	go func() {
		r := bufio.NewReader(server)
		line, _ := r.ReadString('\n')
		if line != "m1 FETCH 1:* (BODY.PEEK[])\r\n" {
			server.Close()
			return
		}
		server.Write([]byte(script))
	}()
	octets, n, err := c.fetchBodies()
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 || octets != 5+0+0+3+3 {
		t.Fatalf("%d bodies, %d octets; want 5 and 11", n, octets)
	}
}

func TestLiteralLen(t *testing.T) {
	for l, want := range map[string]int64{"x {5}": 5, "x {0}": 0, "x {12+}": 12} {
		if n, ok := literalLen([]byte(l)); !ok || n != want {
			t.Errorf("literalLen(%q) = %d, %v", l, n, ok)
		}
	}
	for _, l := range []string{"x", "x {}", "x {-1}", "x {a}", "}"} {
		if _, ok := literalLen([]byte(l)); ok {
			t.Errorf("literalLen(%q): a literal", l)
		}
	}
}
