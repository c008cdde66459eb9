package audit

import (
	"fmt"
	"strings"
)

// Head is a chain's last position as the store records it.
type Head struct {
	Chain string `json:"chain"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
}

// Break is one place where a chain is not what was appended.
type Break struct {
	Chain    string `json:"chain,omitempty"`
	Seq      int64  `json:"seq,omitempty"`      // the event's number (in its chain, for events before the log)
	Position *int64 `json:"position,omitempty"` // the event's position in the log, when sealed
	EventID  string `json:"eventId,omitempty"`  // the event found there, if any
	Problem  string `json:"problem"`
}

func (b Break) String() string {
	var where []string
	if b.Position != nil {
		where = append(where, fmt.Sprintf("log position %d", *b.Position))
	}
	if b.Chain != "" {
		where = append(where, fmt.Sprintf("chain %s at seq %d", b.Chain, b.Seq))
	}
	if b.EventID != "" {
		where = append(where, "event "+b.EventID)
	}
	if len(where) == 0 {
		return b.Problem
	}
	return strings.Join(where, ", ") + ": " + b.Problem
}

// Verifier checks one chain as its events arrive in Seq order, holding only the last
// one, so a chain of any length is checked in constant memory.
//
// Each kind of tampering shows as a different break:
//   - a modified event no longer matches its hash;
//   - a deleted event leaves a gap in Seq, and its successor's PrevHash points at
//     nothing;
//   - an inserted event either repeats a Seq or, renumbered to fit, breaks the hash of
//     the events it displaced;
//   - reordered events no longer point at their predecessors;
//   - events cut off at the end leave the head pointing beyond the last event.
type Verifier struct {
	head   Head
	seq    int64
	hash   string
	n      int64
	breaks []Break
}

// NewVerifier starts checking the chain whose recorded head is head.
func NewVerifier(head Head) *Verifier { return &Verifier{head: head} }

// Add checks the next event of the chain.
func (v *Verifier) Add(e *Event) {
	v.n++
	brk := func(problem string) {
		v.breaks = append(v.breaks, Break{Chain: v.head.Chain, Seq: e.Seq, EventID: e.ID, Problem: problem})
	}
	switch {
	case e.Chain != v.head.Chain:
		brk(fmt.Sprintf("event belongs to chain %q", e.Chain))
	case e.Seq == v.seq:
		brk("a second event at this position (inserted)")
	case e.Seq < v.seq:
		brk("out of order")
	case e.Seq > v.seq+1:
		brk(fmt.Sprintf("events %d to %d are missing (deleted)", v.seq+1, e.Seq-1))
	}
	if e.PrevHash != v.hash {
		brk("does not follow the event before it (previous hash differs: deleted, inserted or reordered events)")
	}
	if ComputeHash(e) != e.Hash {
		brk("content does not match its hash (modified)")
	}
	if e.Seq > v.seq {
		v.seq = e.Seq
	}
	v.hash = e.Hash
}

// Done ends the chain and returns every break found.
func (v *Verifier) Done() []Break {
	switch {
	case v.seq < v.head.Seq:
		v.breaks = append(v.breaks, Break{Chain: v.head.Chain, Seq: v.seq + 1,
			Problem: fmt.Sprintf("events %d to %d are missing: the chain ends before its head (truncated)", v.seq+1, v.head.Seq)})
	case v.seq > v.head.Seq:
		v.breaks = append(v.breaks, Break{Chain: v.head.Chain, Seq: v.head.Seq + 1,
			Problem: fmt.Sprintf("events after the head (seq %d) were appended outside orgscim", v.head.Seq)})
	case v.hash != v.head.Hash:
		v.breaks = append(v.breaks, Break{Chain: v.head.Chain, Seq: v.seq,
			Problem: "the last event is not the one the head records (replaced)"})
	}
	return v.breaks
}

// Events is how many events were checked.
func (v *Verifier) Events() int64 { return v.n }
