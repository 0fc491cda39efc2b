package splunk

import (
	"time"

	"github.com/bulwarkhq/bulwark/events"
)

// SetAckPoll shortens the first wait before an acknowledgement query.
func SetAckPoll(s events.Sink, d time.Duration) { s.(*splunk).poll = d }
