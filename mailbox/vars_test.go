package mailbox

import "time"

var timeZero time.Time
