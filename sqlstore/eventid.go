package sqlstore

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"
)

// eventIDs makes audit event ids that sort in the order this process appends them
// (UUID version 7: milliseconds, then a counter within the millisecond, then random
// bits), so that events of one transaction, which share a timestamp, list in the order
// they happened.
var eventIDs struct {
	sync.Mutex
	ms  int64
	seq uint16
}

func newEventID() string {
	eventIDs.Lock()
	ms := time.Now().UnixMilli()
	if ms <= eventIDs.ms {
		ms = eventIDs.ms // the clock stepped back or stood still: keep counting
		eventIDs.seq++
		if eventIDs.seq > 0x0fff {
			ms++
			eventIDs.seq = 0
		}
	} else {
		eventIDs.seq = 0
	}
	eventIDs.ms = ms
	seq := eventIDs.seq
	eventIDs.Unlock()

	var b [16]byte
	if _, err := rand.Read(b[8:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	b[6] = 0x70 | byte(seq>>8)
	b[7] = byte(seq)
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
