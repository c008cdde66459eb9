// Package authzen is the OpenID AuthZEN Authorization API 1.0 adapter: a policy
// decision point (PDP) that answers "may this subject do this action on this resource"
// with orgscim's access rule, so that a downstream application or API gateway asks with
// a ready-made AuthZEN client instead of orgscim's own access check.
//
// # Mapping
//
//	subject   {"type": "user", "id": "<SCIM user id>", "properties": {"connection": "<connection slug>"}}
//	resource  {"type": "org", "id": "<org slug>"}
//	action    {"name": "<permission>"}
//
// The decision is the access check's own (the Decider, in orgscim adminapi.Server.Check,
// which calls orgs.Access.Check): no second rule lives here. A batch's user evaluations
// are decided together by the BatchDecider (adminapi.Server.CheckMany, which calls
// orgs.Access.CheckMany: the same rule, with a fixed number of queries for the whole
// batch), each answered exactly as it would be alone; its service accounts'
// evaluations likewise (adminapi.Server.CheckServiceAccounts, which calls
// orgs.ServiceAccounts.CheckMany: each account's authority judged once, its questions
// decided together). The response's context
// carries the reason and, when allowed, the chains that allow — what `orgscim access
// check` explains.
//
// # Endpoints
//
//   - GET /.well-known/authzen-configuration: the PDP's metadata (public).
//   - POST /access/v1/evaluation: one decision.
//   - POST /access/v1/evaluations: a batch. Top-level subject, action, resource and
//     context are defaults each evaluation may override, field by field.
//     options.evaluations_semantic is execute_all (the default: every evaluation is
//     answered), deny_on_first_deny or permit_on_first_permit (evaluations stop after
//     the first deny, resp. permit, which is the last one answered; the batch is decided
//     whole and then cut there, since deciding changes nothing). Without an
//     evaluations array the request is one evaluation and answered as one.
//
// # Authentication and scope
//
// Like the admin API: Authorization: Bearer oscadm_... — an operator key asks about
// anything; a delegated administrator's key only about orgs of its subtree and
// connections on its path. A question outside that scope is refused (403), not answered
// "decision": false, because false would claim the subject lacks access, which the
// caller is not entitled to learn either way. Inside a batch such an evaluation is
// answered "decision": false with the refusal in its context ({"error": {"status":
// 403, ...}}), as the specification allows for per-evaluation errors, so that one
// refused question does not hide the answers to the others. A malformed request is a
// 400 and an unknown key a 401; an unknown user is a "decision": false with its reason,
// exactly as `access check` answers it.
//
// # Search APIs
//
// The subject, resource and action search APIs are not offered. Who may act on an org
// is GET /api/v1/orgs/{slug}/access and what a user can do is
// GET /api/v1/connections/{slug}/users/{id}/access: both explained and scoped to a
// delegate's subtree already.
// Offering them again under AuthZEN would need its own paging and a second
// enumeration of effective access over inheriting roles; a PDP client that needs them
// is better served by those endpoints until a consumer asks.
//
// The package speaks HTTP (echo) and JSON; it reads nothing from storage itself.
package authzen
