// Package console is the web console under /console: server-rendered pages
// (html/template, embedded with their stylesheet, no script) for the vendor's operators
// and the partners' delegated administrators, served by the same binary as SCIM and the
// admin API.
//
// Operators sign in with a one-time link (`orgscim console link --operator NAME`);
// partner administrators through their connection's OpenID Connect IdP (state, nonce,
// PKCE; go-oidc verifies the ID token), matched to the SCIM user that IdP provisioned.
// Sessions are package sessions': server-side, re-checked on every request by the
// authority rule, revoked when the person no longer stands. Cookies are HttpOnly,
// SameSite=Lax and Secure over TLS; every form carries the session's CSRF token.
//
// Pages call the same domain functions as the admin API (orgs.Access.AssignRole,
// RevokeGrant, Check, WhatCanUserDo), so every action has the same authorisation,
// consequences and audit events; the audit actor is "console_session:ID PERSON". A
// delegate sees only their subtree and is offered only controls the domain would
// accept. Domain errors become pages in one function (status, HandleError).
package console
