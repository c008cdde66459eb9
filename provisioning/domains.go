package provisioning

import "context"

// DomainRule decides which e-mail domains a connection may provision (package domains
// implements it): a refusal is an InvalidValue error naming the domain.
type DomainRule interface {
	// Admit checks the user's addresses (userName when it is one, and every e-mail);
	// creating is true for a new user, which a lapsed domain refuses.
	Admit(ctx context.Context, conn string, addresses []string, creating bool) error
	// Linkable reports whether an address may link this connection's user to another
	// record by e-mail: only in a domain the connection's org holds verified.
	Linkable(ctx context.Context, conn, address string) (bool, error)
}

// addresses lists what a domain rule looks at: userName, and every e-mail value.
func (u *User) addresses() []string {
	out := []string{u.UserName}
	emails, _ := u.Attributes["emails"].([]any)
	for _, e := range emails {
		m, _ := e.(map[string]any)
		if v := str(m["value"]); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// admit is the one domain check every user write calls (create, replace, patch,
// restore, adoption).
func (s *Users) admit(ctx context.Context, conn string, u *User, creating bool) error {
	if s.Domains == nil {
		return nil
	}
	return s.Domains.Admit(ctx, conn, u.addresses(), creating)
}
