package audit

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// InclusionProof shows that Event is the record at Position of the tree of TreeSize
// events whose signed checkpoint is Checkpoint: RFC 6962 audit path, tlog's proof.
type InclusionProof struct {
	Event      Event
	Position   int64
	TreeSize   int64
	Hashes     tlog.RecordProof
	Checkpoint []byte
}

// Check verifies p against c, a checkpoint whose signature the caller has checked: the
// event's leaf, through the proof's hashes, must give c's root.
func (p *InclusionProof) Check(c Checkpoint) error {
	if c.Size != p.TreeSize {
		return fmt.Errorf("the proof is for a tree of %d events, the checkpoint of %d", p.TreeSize, c.Size)
	}
	if err := tlog.CheckRecord(p.Hashes, c.Size, c.Root, p.Position, LeafHash(&p.Event)); err != nil {
		return fmt.Errorf("event %s is not at position %d of the checkpoint's tree: %w", p.Event.ID, p.Position, err)
	}
	return nil
}
