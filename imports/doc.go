// Package imports applies a partner's spreadsheet of orgs, people and roles: the file is
// parsed and every line's problems named (importfile.go), each line resolved against the
// directory and judged by the same authorization and authority rule as a change by hand
// (imports.go, importcheck.go), and the whole file applied in one transaction with its
// import batch and audit events, or not at all. A dry run plans without writing.
//
// It is a workflow on top of the directory, not part of it: it uses the orgs package's
// services (Directory, Access) and their exported steps, and orgs knows nothing of it,
// so that the tree and the authority rule stay one package's concern. It is plain Go;
// the store it needs beyond the org and access stores (ImportStore) is declared here
// and implemented by sqlstore.
package imports
