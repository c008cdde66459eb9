package audit

import "context"

// ChainReader reads the chains for verification, from one consistent snapshot.
type ChainReader interface {
	Heads(ctx context.Context) ([]Head, error)
	// ScanChain calls fn with each event of chain in Seq order.
	ScanChain(ctx context.Context, chain string, fn func(*Event) error) error
}

// Report is the outcome of verifying every chain.
type Report struct {
	Chains int     `json:"chains"`
	Events int64   `json:"events"`
	Breaks []Break `json:"breaks"`
}

// OK reports whether no chain is broken.
func (r Report) OK() bool { return len(r.Breaks) == 0 }

// VerifyAll checks every chain that r holds.
func VerifyAll(ctx context.Context, r ChainReader) (Report, error) {
	rep := Report{Breaks: []Break{}}
	heads, err := r.Heads(ctx)
	if err != nil {
		return rep, err
	}
	for _, h := range heads {
		v := NewVerifier(h)
		if err := r.ScanChain(ctx, h.Chain, func(e *Event) error { v.Add(e); return nil }); err != nil {
			return rep, err
		}
		rep.Chains++
		rep.Events += v.Events()
		rep.Breaks = append(rep.Breaks, v.Done()...)
	}
	return rep, nil
}
