package scim

import (
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// simpleComparison recognises the filter an IdP sends most, `attr eq "value"` (Entra's
// and Okta's lookup before every create), and returns the expression the general parser
// would return for it, without running the parser; ok is false for anything else, which
// then goes through the parser. The shape it accepts is narrow on purpose: a plain
// attribute name with at most one sub-attribute, lowercase "eq", one space on each side,
// and a quoted value with no escape. FuzzSimpleComparison checks that it agrees with the
// parser on whatever it accepts.
func simpleComparison(raw string) (filter.Expression, bool) {
	i := 0
	name := func() (string, bool) {
		start := i
		if i >= len(raw) || !isAlpha(raw[i]) {
			return "", false
		}
		for i < len(raw) && (isAlpha(raw[i]) || raw[i] >= '0' && raw[i] <= '9' || raw[i] == '_' || raw[i] == '-') {
			i++
		}
		return raw[start:i], true
	}
	attr, ok := name()
	if !ok || compareOps[strings.ToLower(attr)] {
		// quoteBareLiterals reads an operator's name as an operator.
		return nil, false
	}
	var sub *string
	if i < len(raw) && raw[i] == '.' {
		i++
		s, ok := name()
		if !ok {
			return nil, false
		}
		sub = &s
	}
	const op = ` eq "`
	if len(raw) < i+len(op)+1 || raw[i:i+len(op)] != op || raw[len(raw)-1] != '"' {
		return nil, false
	}
	value := raw[i+len(op) : len(raw)-1]
	for j := 0; j < len(value); j++ {
		// Escapes, quotes and control characters are the parser's to judge.
		if c := value[j]; c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			return nil, false
		}
	}
	return &filter.AttributeExpression{
		AttributePath: filter.AttributePath{AttributeName: attr, SubAttribute: sub},
		Operator:      filter.EQ,
		CompareValue:  value,
	}, true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
