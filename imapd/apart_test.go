package imapd

import (
	"fmt"
	"strings"
	"testing"
)

// A panic in a method run apart reaches the caller, with the stack of the
// goroutine where it happened.
func TestApartPanic(t *testing.T) {
	defer func() {
		p := recover()
		ap, ok := p.(apartPanic)
		if !ok {
			t.Fatalf("recovered %#v, want an apartPanic", p)
		}
		s := fmt.Sprint(ap)
		if !strings.HasPrefix(s, "boom\n") || !strings.Contains(s, "panicsApart") {
			t.Fatalf("panic text %q", s)
		}
	}()
	apart(panicsApart)
	t.Fatal("apart returned")
}

func panicsApart() { panic("boom") }
