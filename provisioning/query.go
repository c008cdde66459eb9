package provisioning

// Filter is a predicate over a connection's resources, already resolved against the
// schema by the adapter that parsed it. Stores translate it into parameterised queries;
// nothing filters in Go.
type Filter interface{ isFilter() }

// Op is a comparison operator of RFC 7644 §3.4.2.2.
type Op string

const (
	OpEq      Op = "eq"
	OpNe      Op = "ne"
	OpCo      Op = "co"
	OpSw      Op = "sw"
	OpEw      Op = "ew"
	OpGt      Op = "gt"
	OpGe      Op = "ge"
	OpLt      Op = "lt"
	OpLe      Op = "le"
	OpPresent Op = "pr"
)

// AttrType is the data type of an attribute (RFC 7643 §2.3).
type AttrType string

const (
	TypeString    AttrType = "string"
	TypeBoolean   AttrType = "boolean"
	TypeDecimal   AttrType = "decimal"
	TypeInteger   AttrType = "integer"
	TypeDateTime  AttrType = "dateTime"
	TypeBinary    AttrType = "binary"
	TypeReference AttrType = "reference"
	TypeComplex   AttrType = "complex"
)

// Attr names a singular attribute by its canonical path in the resource: ["userName"],
// ["name", "givenName"], [EnterpriseURN, "manager", "value"]. Inside an Any, the path
// is relative to one element of the multi-valued attribute. The meta attributes are
// ["id"], ["meta", "created"], ["meta", "lastModified"].
type Attr struct {
	Path      []string
	Type      AttrType
	CaseExact bool
	// Elements, when set, is the multi-valued attribute whose elements Path is relative
	// to; sorting by it uses the primary element, else the first (RFC 7644 §3.4.2.3).
	Elements []string
}

// And, Or and Not combine filters.
type (
	And struct{ Left, Right Filter }
	Or  struct{ Left, Right Filter }
	Not struct{ Filter Filter }
)

// Compare compares one attribute with a value. Value is a string, float64, bool,
// time.Time or nil (nil with OpEq means "is null"; with OpPresent it is ignored).
type Compare struct {
	Attr  Attr
	Op    Op
	Value any
}

// Any holds when at least one element of the multi-valued attribute at Path matches
// Filter, whose attributes are relative to the element. A multi-valued attribute of
// simple values has elements addressed by the empty path.
type Any struct {
	Path   []string
	Filter Filter
}

func (And) isFilter()     {}
func (Or) isFilter()      {}
func (Not) isFilter()     {}
func (Compare) isFilter() {}
func (Any) isFilter()     {}

// Query selects a page of resources.
type Query struct {
	Filter     Filter // nil selects all
	SortBy     *Attr  // nil keeps the store's stable creation order
	Descending bool
	StartIndex int // 1-based
	Count      int // 0 returns only the total
}

// UserPage is one page of a user query with the total number of matches.
type UserPage struct {
	Total int
	Users []*User
}
