package ssf

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPIPath serves the transmitter's OpenAPI document.
const OpenAPIPath = "/ssf/openapi.json"

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func jsonContent(schema map[string]any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

// OpenAPI is the transmitter's OpenAPI 3.0 document: configuration, keys, stream
// management and poll.
func OpenAPI() map[string]any {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	strs := func(desc string) map[string]any {
		return map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": desc}
	}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": jsonContent(ref("SSFError"))}
	}
	errs := func(codes ...string) map[string]any {
		all := map[string]string{
			"400": "Malformed request: nothing changed.", "401": "No valid receiver token.",
			"404": "No such stream of this receiver.", "409": "Conflict: too many streams, or the stream is disabled.",
			"500": "Internal error, with the id under which it was logged.", "503": "The database is unavailable; retry.",
			"429": "Too many requests for this receiver (Retry-After says when to retry), or, for a verification, its stream's min_verification_interval has not passed.",
		}
		out := map[string]any{}
		for _, c := range codes {
			out[c] = errResp(all[c])
		}
		out["401"], out["429"], out["500"] = errResp(all["401"]), errResp(all["429"]), errResp(all["500"])
		return out
	}
	with := func(m map[string]any, code string, resp any) map[string]any {
		m[code] = resp
		return m
	}
	ok := func(schema string) map[string]any {
		return map[string]any{"description": "OK", "content": jsonContent(ref(schema))}
	}
	streamID := map[string]any{"name": "stream_id", "in": "query", "required": true, "schema": map[string]any{"type": "string"},
		"description": "The stream's id."}
	op := func(id, summary string, extra map[string]any) map[string]any {
		o := map[string]any{"operationId": id, "summary": summary, "tags": []string{Tag},
			"security": []any{map[string]any{"receiverToken": []any{}}}}
		for k, v := range extra {
			o[k] = v
		}
		return o
	}
	body := func(schema string) map[string]any {
		return map[string]any{"required": true, "content": jsonContent(ref(schema))}
	}
	public := func(id, summary, schema string) map[string]any {
		return map[string]any{"get": map[string]any{"operationId": id, "summary": summary, "tags": []string{Tag},
			"security": []any{}, "responses": map[string]any{"200": ok(schema)}}}
	}
	subject := map[string]any{"type": "object", "required": []string{"format"}, "additionalProperties": true,
		"description": "A subject identifier (RFC 9493): email {email}, opaque {id} (a user's SCIM id, a service account's id, or a tenant's slug), or complex {user, tenant}.",
		"properties":  map[string]any{"format": map[string]any{"type": "string", "enum": []string{"email", "opaque", "complex"}}}}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "orgscim Shared Signals transmitter", "version": "1.0.0",
			"description": "OpenID Shared Signals Framework 1.0 transmitter: CAEP and RISC events as SETs (RFC 8417), " +
				"pushed (RFC 8935) or polled (RFC 8936). A receiver is registered by an operator (orgscim ssf receiver add) " +
				"and manages its own streams with its bearer token. When an operator revokes the receiver, each of its push " +
				"streams is sent a last SET, stream-updated (SSF 1.0 §8.1.5: subject the stream's opaque id, status disabled, " +
				"and the reason). Errors are {\"err\", \"description\"} (RFC 8935 §2.3).",
			"license": map[string]any{"name": "Proprietary", "url": "https://example.com/license"}},
		"servers": []any{map[string]any{"url": "/"}},
		"tags":    []any{map[string]any{"name": Tag, "description": TagDescription}},
		"paths": map[string]any{
			ConfigurationPath: public("getSSFConfiguration", "The transmitter's metadata (SSF 1.0 §7).", "SSFConfiguration"),
			JWKSPath:          public("getSSFJWKS", "The public keys SETs are signed with (current first, then rotated-out ones).", "JWKS"),
			StreamPath: map[string]any{
				"get": op("getSSFStream", "Read one stream (stream_id) or all of the receiver's.", map[string]any{
					"parameters": []any{map[string]any{"name": "stream_id", "in": "query", "required": false,
						"schema": map[string]any{"type": "string"}, "description": "One stream; absent: a list."}},
					"responses": with(errs("400", "404", "503"), "200", map[string]any{"description": "The stream, or a list of streams.",
						"content": jsonContent(map[string]any{"oneOf": []any{ref("SSFStream"),
							map[string]any{"type": "array", "items": ref("SSFStream")}}})})}),
				"post": op("createSSFStream", "Create a stream.", map[string]any{"requestBody": body("SSFStreamRequest"),
					"responses": with(errs("400", "409", "503"), "201", map[string]any{"description": "Created",
						"content": jsonContent(ref("SSFStream"))})}),
				"patch": op("updateSSFStream", "Change the fields given.", map[string]any{"requestBody": body("SSFStreamRequest"),
					"responses": with(errs("400", "404", "503"), "200", ok("SSFStream"))}),
				"put": op("replaceSSFStream", "Replace the stream's configuration.", map[string]any{"requestBody": body("SSFStreamRequest"),
					"responses": with(errs("400", "404", "503"), "200", ok("SSFStream"))}),
				"delete": op("deleteSSFStream", "Delete the stream and what it still held.", map[string]any{
					"parameters": []any{streamID},
					"responses":  with(errs("400", "404", "503"), "204", map[string]any{"description": "Deleted"})}),
			},
			StatusPath: map[string]any{
				"get": op("getSSFStatus", "A stream's status.", map[string]any{"parameters": []any{streamID},
					"responses": with(errs("400", "404", "503"), "200", ok("SSFStatus"))}),
				"post": op("setSSFStatus", "Enable, pause (SETs are held) or disable (SETs are dropped) a stream.", map[string]any{
					"requestBody": body("SSFStatus"), "responses": with(errs("400", "404", "503"), "200", ok("SSFStatus"))}),
			},
			AddSubjectPath: map[string]any{"post": op("addSSFSubject", "Send SETs about a removed subject again.", map[string]any{
				"requestBody": body("SSFSubjectRequest"),
				"responses":   with(errs("400", "404", "503"), "200", map[string]any{"description": "Added"})})},
			RemoveSubjectPath: map[string]any{"post": op("removeSSFSubject", "Stop SETs about a subject on a stream.", map[string]any{
				"requestBody": body("SSFSubjectRequest"),
				"responses":   with(errs("400", "404", "503"), "204", map[string]any{"description": "Removed"})})},
			VerifyPath: map[string]any{"post": op("verifySSFStream", "Queue a verification SET carrying state.", map[string]any{
				"requestBody": body("SSFVerification"),
				"responses":   with(errs("400", "404", "409", "429", "503"), "204", map[string]any{"description": "Queued"})})},
			PollPath + "{stream_id}": map[string]any{"post": op("pollSSFStream", "Acknowledge SETs and fetch the next ones (RFC 8936).", map[string]any{
				"parameters": []any{map[string]any{"name": "stream_id", "in": "path", "required": true,
					"schema": map[string]any{"type": "string"}, "description": "A poll stream's id."}},
				"requestBody": body("SSFPoll"),
				"responses":   with(errs("400", "404", "503"), "200", ok("SSFPollResponse"))})},
		},
		"components": map[string]any{
			"securitySchemes": map[string]any{"receiverToken": map[string]any{"type": "http", "scheme": "bearer",
				"description": "A receiver's token (ossf_...), printed once by orgscim ssf receiver add."}},
			"schemas": map[string]any{
				"SSFError": map[string]any{"type": "object", "required": []string{"err", "description"},
					"properties": map[string]any{"err": str("invalid_request, authentication_failed, not_found, conflict, ..."),
						"description": str("")}},
				"SSFConfiguration": map[string]any{"type": "object", "required": []string{"issuer", "jwks_uri"},
					"properties": map[string]any{"spec_version": str(""), "issuer": str(""), "jwks_uri": str(""),
						"delivery_methods_supported": strs(""), "configuration_endpoint": str(""), "status_endpoint": str(""),
						"add_subject_endpoint": str(""), "remove_subject_endpoint": str(""), "verification_endpoint": str(""),
						"authorization_schemes": map[string]any{"type": "array", "items": map[string]any{"type": "object",
							"properties": map[string]any{"spec_urn": str("")}}},
						"default_subjects": str("ALL: every subject is sent unless removed")}},
				"JWKS": map[string]any{"type": "object", "required": []string{"keys"}, "properties": map[string]any{
					"keys": map[string]any{"type": "array", "items": map[string]any{"type": "object", "additionalProperties": true,
						"properties": map[string]any{"kty": str(""), "kid": str(""), "alg": str("EdDSA or ES256"), "use": str("")}}}}},
				"SSFDelivery": map[string]any{"type": "object", "required": []string{"method"}, "properties": map[string]any{
					"method":               map[string]any{"type": "string", "enum": []string{PushMethod, PollMethod}},
					"endpoint_url":         str("push: the receiver's URL (required); poll: the transmitter's, assigned"),
					"authorization_header": str("push: sent as Authorization with each SET; never shown back")}},
				"SSFStreamRequest": map[string]any{"type": "object", "properties": map[string]any{
					"stream_id": str("required to update or replace; absent to create"), "description": str(""),
					"events_requested": strs("event type URIs; absent on create: every supported type"),
					"delivery":         ref("SSFDelivery")}},
				"SSFStream": map[string]any{"type": "object", "required": []string{"stream_id", "iss", "aud", "delivery"},
					"properties": map[string]any{"stream_id": str(""), "iss": str(""), "aud": str(""),
						"events_supported": strs(""), "events_requested": strs(""), "events_delivered": strs(""),
						"delivery": ref("SSFDelivery"), "description": str(""),
						"min_verification_interval": map[string]any{"type": "integer",
							"description": "seconds that must pass between two verification requests; sooner answers 429"}}},
				"SSFStatus": map[string]any{"type": "object", "required": []string{"stream_id", "status"}, "properties": map[string]any{
					"stream_id": str(""), "status": map[string]any{"type": "string", "enum": []string{Enabled, Paused, Disabled}},
					"reason": str("")}},
				"SSFSubjectRequest": map[string]any{"type": "object", "required": []string{"stream_id", "subject"},
					"properties": map[string]any{"stream_id": str(""), "subject": subject, "verified": map[string]any{"type": "boolean"}}},
				"SSFVerification": map[string]any{"type": "object", "required": []string{"stream_id"},
					"properties": map[string]any{"stream_id": str(""), "state": str("echoed in the verification SET")}},
				"SSFPoll": map[string]any{"type": "object", "properties": map[string]any{
					"maxEvents":         map[string]any{"type": "integer", "minimum": 0, "maximum": MaxEvents},
					"returnImmediately": map[string]any{"type": "boolean"},
					"ack":               strs("jtis of SETs received"),
					"setErrs": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "object",
						"required": []string{"err"}, "properties": map[string]any{"err": str(""), "description": str("")}}}}},
				"SSFPollResponse": map[string]any{"type": "object", "required": []string{"sets"}, "properties": map[string]any{
					"sets":          map[string]any{"type": "object", "additionalProperties": str("a SET (JWS compact)"), "description": "jti → SET"},
					"moreAvailable": map[string]any{"type": "boolean"}}},
			},
		},
	}
}

// Tag is the OpenAPI tag of the transmitter's endpoints.
const Tag = "ssf"

// TagDescription describes Tag.
const TagDescription = "OpenID Shared Signals Framework 1.0 transmitter (CAEP, RISC, SETs by push or poll)."

func (s *Server) openapi(c echo.Context) error {
	b, err := json.Marshal(OpenAPI())
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", b)
}
