package provisioning

import "github.com/orgscim/orgscim"

// Limits on the values the store indexes. PostgreSQL refuses a btree index entry over
// about 2,700 bytes while SQLite has no such limit, so without these a long value would
// be stored on one engine and fail on the other; with them both refuse it alike, before
// storage is asked. They are far above anything an IdP sends.
const (
	// MaxNameBytes bounds the names unique per connection: a user's userName and a
	// group's displayName.
	MaxNameBytes = 512
	// MaxIndexedBytes bounds the other indexed strings: externalId, a user's
	// displayName, name.givenName, name.familyName and every emails[].value.
	MaxIndexedBytes = 1024
	// MaxKeyBytes bounds the normalised form (NFKC, case-folded; see FoldKey) of a unique
	// name, which compatibility characters can make many times longer than the name.
	MaxKeyBytes = 1024
)

// checkName refuses a unique name (userName, a group's displayName) that is missing,
// too long, or too long once normalised.
func checkName(attr, v string) error {
	if v == "" {
		return orgscim.Errorf(orgscim.InvalidValue, "%s is required", attr)
	}
	if len(v) > MaxNameBytes {
		return orgscim.Errorf(orgscim.InvalidValue, "%s is longer than %d bytes", attr, MaxNameBytes)
	}
	if len(FoldKey(v)) > MaxKeyBytes {
		return orgscim.Errorf(orgscim.InvalidValue, "%s is longer than %d bytes once normalised (NFKC, case-folded)", attr, MaxKeyBytes)
	}
	return nil
}

// checkIndexed refuses an indexed value longer than MaxIndexedBytes.
func checkIndexed(attr, v string) error {
	if len(v) > MaxIndexedBytes {
		return orgscim.Errorf(orgscim.InvalidValue, "%s is longer than %d bytes", attr, MaxIndexedBytes)
	}
	return nil
}
