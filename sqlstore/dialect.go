package sqlstore

import (
	"database/sql/driver"
	"errors"
	"strings"

	sqlitedriver "github.com/glebarez/go-sqlite"

	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is what differs between the engines. JSON paths are built from canonical
// attribute names of the schema catalogue, never from request text; they are quoted all
// the same, and a name that could break out of its quotes is refused.
type dialect struct {
	name      string
	forUpdate string // row lock for read-modify-write; SQLite's IMMEDIATE transaction already serialises writers
}

var (
	postgresDialect = dialect{name: "postgres", forUpdate: " FOR UPDATE"}
	sqliteDialect   = dialect{name: "sqlite"}
)

// idInPath is the condition that the org id col is one of the ids on path, an org path
// expression ("/root/.../id/"): the ancestors of an org, found through the primary key.
func (d dialect) idInPath(col, path string) string {
	if d.name == "postgres" {
		return col + " = ANY(string_to_array(trim(both '/' from " + path + "), '/'))"
	}
	return col + ` IN (SELECT value FROM json_each('["' || replace(trim(` + path + `, '/'), '/', '","') || '"]'))`
}

func safeName(s string) string {
	if strings.ContainsAny(s, `'"\`) {
		panic("sqlstore: attribute name with quote: " + s)
	}
	return s
}

// jsonText is the text of the JSON value at path inside the JSON expression col, or NULL.
// An empty path is col's own scalar value.
func (d dialect) jsonText(col string, path []string) string {
	if d.name == "postgres" {
		return col + " #>> " + d.pgPath(path)
	}
	if len(path) == 0 {
		return col
	}
	return "json_extract(" + col + ", " + d.sqlitePath(path) + ")"
}

// jsonType is the JSON type name of the value at path: PostgreSQL's jsonb_typeof names
// (string, number, boolean, array, object, null) on both engines.
func (d dialect) jsonType(col string, path []string) string {
	if d.name == "postgres" {
		return "jsonb_typeof(" + col + " #> " + d.pgPath(path) + ")"
	}
	t := "json_type(" + col + ")"
	if len(path) > 0 {
		t = "json_type(" + col + ", " + d.sqlitePath(path) + ")"
	}
	return "(CASE " + t + " WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number'" +
		" WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE " + t + " END)"
}

// jsonNumber is the numeric value at path, NULL when it is not a number.
func (d dialect) jsonNumber(col string, path []string) string {
	if d.name == "postgres" {
		return "(CASE WHEN " + d.jsonType(col, path) + " = 'number' THEN (" + col + " #>> " + d.pgPath(path) + ")::numeric END)"
	}
	return "(CASE WHEN " + d.jsonType(col, path) + " = 'number' THEN " + d.jsonText(col, path) + " END)"
}

// jsonBoolText is 'true' or 'false' for a JSON boolean at path, NULL otherwise.
func (d dialect) jsonBoolText(col string, path []string) string {
	if d.name == "postgres" {
		return "(CASE WHEN " + d.jsonType(col, path) + " = 'boolean' THEN " + col + " #>> " + d.pgPath(path) + " END)"
	}
	t := "json_type(" + col + ")"
	if len(path) > 0 {
		t = "json_type(" + col + ", " + d.sqlitePath(path) + ")"
	}
	return "(CASE " + t + " WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END)"
}

// elements is a FROM item yielding one row per element of the JSON array at path, and
// the expression of the element in it.
func (d dialect) elements(col string, path []string, alias string) (from, elem string) {
	if d.name == "postgres" {
		arr := col + " #> " + d.pgPath(path)
		return "jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr + ") = 'array' THEN " + arr + " ELSE '[]'::jsonb END) AS " + alias + "(v)", alias + ".v"
	}
	return "json_each(" + col + ", " + d.sqlitePath(path) + ") AS " + alias, alias + ".value"
}

// firstElement is the value at sub of the primary element of the JSON array at path, or
// of its first element when none is primary.
func (d dialect) firstElement(col string, path, sub []string) string {
	if d.name == "postgres" {
		arr := col + " #> " + d.pgPath(path)
		return "(SELECT e.v #>> " + d.pgPath(sub) + " FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr +
			") = 'array' THEN " + arr + " ELSE '[]'::jsonb END) WITH ORDINALITY AS e(v, n)" +
			" ORDER BY (e.v #>> '{primary}') = 'true' DESC NULLS LAST, e.n LIMIT 1)"
	}
	val := "e.value"
	if len(sub) > 0 {
		val = "json_extract(e.value, " + d.sqlitePath(sub) + ")"
	}
	return "(SELECT " + val + " FROM json_each(" + col + ", " + d.sqlitePath(path) + ") AS e" +
		" ORDER BY (e.type = 'object' AND json_type(e.value, '$.primary') = 'true') DESC, e.key LIMIT 1)"
}

func (d dialect) pgPath(path []string) string {
	var b strings.Builder
	b.WriteString("'{")
	for i, p := range path {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(safeName(p))
		b.WriteByte('"')
	}
	b.WriteString("}'")
	return b.String()
}

func (d dialect) sqlitePath(path []string) string {
	var b strings.Builder
	b.WriteString("'$")
	for _, p := range path {
		b.WriteString(`."`)
		b.WriteString(safeName(p))
		b.WriteByte('"')
	}
	b.WriteByte('\'')
	return b.String()
}

// lower lower-cases a string expression for case-insensitive comparison. SQLite's own
// lower() knows only ASCII; unicode_lower, registered below, matches PostgreSQL's.
func (d dialect) lower(x string) string {
	if d.name == "sqlite" {
		return "unicode_lower(" + x + ")"
	}
	return "lower(" + x + ")"
}

func init() {
	sqlitedriver.MustRegisterDeterministicScalarFunction("unicode_lower", 1, func(_ *sqlitedriver.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		}
		return args[0], nil
	})
}

// isUniqueViolation recognises a unique-constraint error of either engine.
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
