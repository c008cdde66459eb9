package authzen

// Tag is the OpenAPI tag of the PDP's endpoints.
const Tag = "authzen"

// TagDescription describes Tag.
const TagDescription = "OpenID AuthZEN Authorization API 1.0: a policy decision point answering with orgscim's access rule."

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// OpenAPISchemas are the component schemas the PDP's paths refer to, named AuthZEN*.
func OpenAPISchemas() map[string]any {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	props := map[string]any{"type": "object", "additionalProperties": true}
	return map[string]any{
		"AuthZENSubject": map[string]any{"type": "object", "required": []string{"type", "id"},
			"properties": map[string]any{
				"type": map[string]any{"type": "string", "enum": []string{SubjectUser, SubjectServiceAccount}},
				"id":   str("the SCIM id of a user of the connection, or a service account's id"),
				"properties": map[string]any{"type": "object",
					"properties":           map[string]any{"connection": str("the user's connection slug: required for a user")},
					"additionalProperties": true},
			}},
		"AuthZENResource": map[string]any{"type": "object", "required": []string{"type", "id"},
			"properties": map[string]any{
				"type":       map[string]any{"type": "string", "enum": []string{"org"}},
				"id":         str("an org's slug"),
				"properties": props,
			}},
		"AuthZENAction": map[string]any{"type": "object", "required": []string{"name"},
			"properties": map[string]any{"name": str("a permission, as roles list them"), "properties": props}},
		"AuthZENEvaluation": map[string]any{"type": "object", "additionalProperties": false,
			"properties": map[string]any{"subject": ref("AuthZENSubject"), "action": ref("AuthZENAction"),
				"resource": ref("AuthZENResource"), "context": props}},
		"AuthZENEvaluations": map[string]any{"type": "object", "additionalProperties": false,
			"description": "Top-level subject, action, resource and context are defaults each evaluation may override.",
			"properties": map[string]any{"subject": ref("AuthZENSubject"), "action": ref("AuthZENAction"),
				"resource": ref("AuthZENResource"), "context": props,
				"evaluations": map[string]any{"type": "array", "maxItems": MaxEvaluations, "items": ref("AuthZENEvaluation")},
				"options": map[string]any{"type": "object", "properties": map[string]any{
					"evaluations_semantic": map[string]any{"type": "string", "enum": []string{ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit}}}}}},
		"AuthZENDecision": map[string]any{"type": "object", "required": []string{"decision"},
			"properties": map[string]any{"decision": map[string]any{"type": "boolean"},
				"context": map[string]any{"type": "object", "additionalProperties": true,
					"description": "the access check's explanation (allowed, reason, because: the chains), or error for a refused evaluation in a batch"}}},
		"AuthZENDecisions": map[string]any{"type": "object", "properties": map[string]any{
			"evaluations": map[string]any{"type": "array", "items": ref("AuthZENDecision")},
			"decision":    map[string]any{"type": "boolean", "description": "only when the request had no evaluations array"},
			"context":     props}},
		"AuthZENConfiguration": map[string]any{"type": "object", "required": []string{"policy_decision_point"},
			"properties": map[string]any{"policy_decision_point": str("the PDP's base URL"),
				"access_evaluation_endpoint": str(""), "access_evaluations_endpoint": str("")}},
		"AuthZENError": map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
			"error": map[string]any{"type": "object", "required": []string{"status", "code", "message"}, "properties": map[string]any{
				"status": map[string]any{"type": "integer"}, "code": str(""), "message": str("")}}}},
	}
}

// OpenAPIPaths are the PDP's paths for an OpenAPI 3.0 document whose bearer scheme is
// named security.
func OpenAPIPaths(security string) map[string]any {
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": ref("AuthZENError")}}}
	}
	post := func(id, summary, body, resp string) map[string]any {
		return map[string]any{"post": map[string]any{
			"operationId": id, "summary": summary, "tags": []string{Tag},
			"description": summary + " Operators ask about anything; a delegate only about orgs of its subtree and connections on its path (else 403).",
			"security":    []any{map[string]any{security: []any{}}},
			"parameters": []any{map[string]any{"name": "X-Request-ID", "in": "header", "required": false,
				"description": "echoed in the response", "schema": map[string]any{"type": "string"}}},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(body)}}},
			"responses": map[string]any{
				"200": map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": ref(resp)}}},
				"400": errResp("Malformed request."),
				"401": errResp("No valid admin API key."),
				"403": errResp("Outside the caller's subtree."),
				"404": errResp("No such org or connection."),
				"500": errResp("Internal error, with the id under which it was logged."),
				"503": errResp("The database is unavailable; retry."),
			},
		}}
	}
	return map[string]any{
		ConfigurationPath: map[string]any{"get": map[string]any{
			"operationId": "getAuthzenConfiguration", "summary": "The PDP's metadata.", "tags": []string{Tag},
			"description": "The PDP's metadata. Public.",
			"security":    []any{},
			"responses": map[string]any{"200": map[string]any{"description": "OK",
				"content": map[string]any{"application/json": map[string]any{"schema": ref("AuthZENConfiguration")}}}},
		}},
		EvaluationPath:  post("postAccessEvaluation", "One access evaluation.", "AuthZENEvaluation", "AuthZENDecision"),
		EvaluationsPath: post("postAccessEvaluations", "A batch of access evaluations, with evaluation semantics.", "AuthZENEvaluations", "AuthZENDecisions"),
	}
}
