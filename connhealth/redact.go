package connhealth

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Redacted replaces every secret value in a stored body.
const Redacted = "[redacted]"

// secretWords mark a JSON member (by its key, or a PATCH operation by its path) whose
// value is a secret, in any case and anywhere in the name: password, userPassword,
// urn:...:User:password, clientSecret, access_token.
var secretWords = []string{"password", "secret", "token"}

func secretName(s string) bool {
	s = strings.ToLower(s)
	for _, w := range secretWords {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// redactEntry turns a recorded entry into what is stored: bodies redacted and cut to
// MaxBody, and the error's scimType and detail read from a SCIM error response.
func redactEntry(e Entry) Logged {
	l := Logged{At: e.At, Method: e.Method, Path: loggedPath(e.Path, e.RawQuery), Status: e.Status, Latency: e.Latency, RequestID: e.RequestID,
		RequestBody: redactBody(e.RequestBody, e.RequestCut), ResponseBody: redactBody(e.ResponseBody, e.ResponseCut)}
	if e.Status >= 400 {
		var doc struct {
			ScimType string `json:"scimType"`
			Detail   string `json:"detail"`
		}
		if json.Unmarshal(e.ResponseBody, &doc) == nil {
			l.ScimType, l.Detail = cut(doc.ScimType, 200), cut(doc.Detail, 1000)
		}
	}
	return l
}

// keptParams are the query parameters a logged path keeps: what decides the answer of a
// SCIM query. Anything else (a client's own parameters, possibly secrets) is dropped.
var keptParams = []string{"filter", "startIndex", "count", "sortBy", "sortOrder", "attributes", "excludedAttributes"}

// loggedPath is the request's path with only the query parameters that keptParams
// names; a value that mentions a secret (a filter on the password) is redacted.
func loggedPath(path, rawQuery string) string {
	if rawQuery == "" {
		return path
	}
	q, _ := url.ParseQuery(rawQuery)
	kept := url.Values{}
	for _, name := range keptParams {
		for k, vs := range q {
			if strings.EqualFold(k, name) {
				for _, v := range vs {
					if secretName(v) {
						v = Redacted
					}
					kept.Add(k, v)
				}
			}
		}
	}
	if len(kept) == 0 {
		return path
	}
	return path + "?" + kept.Encode()
}

// redactBody is body as stored: a JSON body with every secret replaced by Redacted,
// cut to MaxBody bytes. A body that is not JSON (or was cut before it could be read
// whole) cannot be redacted member by member: it is kept, cut, only when no secret word
// occurs in it at all, and withheld otherwise.
func redactBody(body []byte, wasCut bool) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	if !wasCut {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil && !dec.More() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if enc.Encode(redact(v)) == nil {
				return cut(strings.TrimSuffix(buf.String(), "\n"), MaxBody)
			}
		}
	}
	for _, w := range secretWords {
		if bytes.Contains(bytes.ToLower(body), []byte(w)) {
			return "[withheld: " + strconv.Itoa(len(body)) + " bytes that are not whole JSON and may hold a secret]"
		}
	}
	return cut(strings.ToValidUTF8(string(body), "\uFFFD"), MaxBody)
}

// redact returns v with the values of secret members replaced, at any depth. A PATCH
// operation whose path names a secret has its value replaced whatever its shape; one
// without a path carries its attributes in its value, where the keys say what is secret.
func redact(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		secretPath := false
		for k, e := range v {
			if strings.EqualFold(k, "path") {
				if p, ok := e.(string); ok && secretName(p) {
					secretPath = true
				}
			}
		}
		for k, e := range v {
			switch {
			case secretName(k):
				out[k] = Redacted
			case secretPath && strings.EqualFold(k, "value"):
				out[k] = Redacted
			default:
				out[k] = redact(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redact(e)
		}
		return out
	}
	return v
}

// cut shortens s to at most n bytes on a character boundary, saying how much was cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…[cut " + strconv.Itoa(len(s)-i) + " bytes]"
}
