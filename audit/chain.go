package audit

import "context"

// ChainReader reads the per-connection hash chains of the events written before the
// log, from one consistent snapshot.
type ChainReader interface {
	Heads(ctx context.Context) ([]Head, error)
	// ScanChain calls fn with each event of chain in Seq order.
	ScanChain(ctx context.Context, chain string, fn func(*Event) error) error
}

// VerifyChains checks every per-connection chain that r holds: what the events written
// before the log were protected by, checked once more when they move into the log.
func VerifyChains(ctx context.Context, r ChainReader) (Report, error) {
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
