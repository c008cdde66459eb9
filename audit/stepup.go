package audit

import (
	"context"
	"encoding/json"
	"time"
)

// AuthenticatedAt is the diff key that records, on every event of an action that asked
// for a recent authentication (a console step-up), when the person last proved who they
// are. It is shaped as a field that appeared, so that a diff stays a diff.
const AuthenticatedAt = "authenticated_at"

type stepUpKey struct{}

// WithStepUp returns ctx carrying the time the acting person authenticated, checked
// fresh by the adapter: the events recorded under it say so.
func WithStepUp(ctx context.Context, authAt time.Time) context.Context {
	return context.WithValue(ctx, stepUpKey{}, authAt.UTC())
}

// StepUpOf returns the authentication time WithStepUp put in ctx.
func StepUpOf(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(stepUpKey{}).(time.Time)
	return t, ok
}

// StepUp adds the step-up's authentication time in ctx, if any, to e's diff. The store
// calls it on every event it records, whichever domain built it.
func StepUp(ctx context.Context, e Event) Event {
	at, ok := StepUpOf(ctx)
	if !ok {
		return e
	}
	m := map[string]json.RawMessage{}
	if len(e.Diff) > 0 && json.Unmarshal(e.Diff, &m) != nil {
		return e // not an object: nothing to add it to (every diff here is one)
	}
	m[AuthenticatedAt] = encode(Change{After: at.Format(time.RFC3339)})
	e.Diff = encode(m)
	return e
}
