// Package jsonvalue holds checks of decoded JSON values that every HTTP adapter makes
// before a value reaches storage.
package jsonvalue

import "strings"

// HasNUL reports whether any string (or object key) in a decoded JSON value holds
// U+0000, which PostgreSQL text cannot store and SQLite would store silently: both
// engines must refuse it alike, so adapters refuse it before storage sees it.
func HasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || HasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if HasNUL(e) {
				return true
			}
		}
	}
	return false
}
