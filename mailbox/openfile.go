package mailbox

import (
	"os"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// openMessage opens a message file for reading without Go's network
// poller (safeio.Open says why).
func openMessage(path string) (*os.File, error) {
	return safeio.Open(path, os.O_RDONLY, 0)
}
