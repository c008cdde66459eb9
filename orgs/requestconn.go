package orgs

import "context"

// requestConnKey carries the connection a SCIM request authenticated as.
type requestConnKey struct{}

// WithRequestConnection returns ctx carrying c, the connection the request's token
// authenticated as a moment ago (Directory.AuthenticateToken), placement rules
// included. What follows from the request's changes (placement) then reads the
// connection from it instead of asking the store again: the same row, read in the
// same request, not a cache that outlives it. Whether the request may act at all was
// decided at authentication; nothing here decides a right.
func WithRequestConnection(ctx context.Context, c *Connection) context.Context {
	return context.WithValue(ctx, requestConnKey{}, c)
}

// connection returns the connection id: the request's when ctx carries it, else the
// store's.
func (a *Access) connection(ctx context.Context, id string) (*Connection, error) {
	if c, ok := ctx.Value(requestConnKey{}).(*Connection); ok && c.ID == id {
		return c, nil
	}
	return a.Store.ConnectionByID(ctx, id)
}
