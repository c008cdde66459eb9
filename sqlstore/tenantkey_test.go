package sqlstore_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// The tenant key a distributed PostgreSQL (Citus) would shard on is the IdP connection,
// connection_id. It is not the org: orgs form a tree, an org's subtree spans many
// connections and an ancestor's admins read it all, and the only org that keeps a
// subtree on one shard is its root, which in most deployments is one operator's root
// holding everything. A connection is what every SCIM request is addressed to (its
// token names one), so the load that asks for more nodes — users, groups, memberships,
// their grants, audit events and webhook deliveries — lands on one shard per
// connection. The audit trail already treats a connection as the tenant: each
// connection's events form one hash chain, named by its id.
//
// A table is therefore one of:
//   - distributed on the connection: it has the key column (connection_id unless
//     tenantKeyColumn names another), NOT NULL, and its primary key and every unique
//     index include it, or are listed in keyImpliesTenant;
//   - listed in referenceTables: small configuration that a Citus deployment replicates
//     to every node (create_reference_table), or deployment-wide state that stays on the
//     coordinator.
//
// TestTenantKey reads the applied schema of each engine and holds every table to that.
func TestTenantKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := readTenantSchema(t, db)
		if len(s.tables) == 0 || len(s.keys) == 0 {
			t.Fatal("no tables or unique keys read: a catalog query is wrong")
		}
		for _, table := range s.tables {
			if _, ok := referenceTables[table]; ok {
				continue
			}
			key := tenantKeyColumn[table]
			if key == "" {
				key = "connection_id"
			}
			notNull, ok := s.columns[table+"."+key]
			switch {
			case !ok:
				t.Errorf("table %s has no tenant key column %s. Either add `%s TEXT NOT NULL` (the connection the row belongs to) "+
					"and put it in the table's primary key and unique indexes, or, if %s is deployment-wide or small configuration "+
					"that a Citus deployment would replicate to every node, add to referenceTables in sqlstore/tenantkey_test.go:\n\t%q: \"<why>\",",
					table, key, key, table, table)
				continue
			case !notNull && nullableTenantKey[table] == "":
				t.Errorf("table %s: tenant key %s may be NULL; a row must belong to one connection. Make it NOT NULL, or, "+
					"if every row is written with it, add to nullableTenantKey in sqlstore/tenantkey_test.go:\n\t%q: \"<why>\",",
					table, key, table)
			}
			for _, k := range s.keys[table] {
				if slices.Contains(k.columns, key) {
					continue
				}
				name := table + "(" + strings.Join(k.columns, ",") + ")"
				if _, ok := keyImpliesTenant[name]; ok {
					continue
				}
				t.Errorf("%s %s lacks the tenant key %s: a sharded database can only enforce a key within one shard. "+
					"Add %s to it, or, if one of its columns already names a single connection's row (so adding the key "+
					"changes nothing it means), add to keyImpliesTenant in sqlstore/tenantkey_test.go:\n\t%q: \"<why>\",",
					k.kind, name, key, key, name)
			}
		}
		// A stale entry would hide the next table of that name.
		for table := range referenceTables {
			if !slices.Contains(s.tables, table) && !slices.Contains(onSQLiteOnly, table) && !slices.Contains(onPostgresOnly, table) {
				t.Errorf("referenceTables lists %s, which no migration creates: remove it", table)
			}
		}
		for table := range tenantKeyColumn {
			if !slices.Contains(s.tables, table) {
				t.Errorf("tenantKeyColumn lists %s, which no migration creates: remove it", table)
			}
		}
		for name := range keyImpliesTenant {
			if !s.hasKey(name) {
				t.Errorf("keyImpliesTenant lists %s, which is no unique key of the schema: remove it", name)
			}
		}
	})
}

// Tables whose tenant key column is not named connection_id. Citus colocates tables by
// the value of their distribution columns, not their names.
var tenantKeyColumn = map[string]string{
	// A chain is a connection's id, or the control plane's one chain (one shard).
	"audit_chains": "chain",
	"audit_events": "chain",
	// A delivery and a revocation receipt carry the chain of the event they deliver.
	"outbox":              "chain",
	"revocation_receipts": "chain",
	// A queued SET carries the chain of the audit event it describes (a verification
	// SET the control plane's).
	"ssf_outbox": "chain",
}

// Distributed tables whose tenant key column allows NULL though every row is written
// with it. SQLite adds NOT NULL to a column only by rebuilding the table, so the
// constraint waits for the Citus migration that needs it.
var nullableTenantKey = map[string]string{
	// A service account's grant has no connection: a Citus deployment gives those grants
	// the control plane's key (as audit_events does with its chain) when it distributes them.
	"grants": "orgs writes every person's grant with its user's connection; a service account's has none",
}

// Unique keys of distributed tables that lack the tenant key, where one column already
// names one connection's row: adding the key column changes nothing the key means, so a
// Citus migration extends them as it distributes the table (in SQLite each is a table
// rebuild, so it is not done before there is a Citus deployment to do it for).
var keyImpliesTenant = map[string]string{
	// Random ids (128 bits): unique across all connections already.
	"grants(id)":                             "a grant's id is random",
	"mappings(id)":                           "a mapping's id is random",
	"elevations(id)":                         "an elevation's id is random",
	"audit_events(id)":                       "an event's id is random",
	"outbox(id)":                             "a delivery's id is random",
	"ssf_outbox(id)":                         "a queued SET's id is random",
	"ssf_outbox(jti,stream_id)":              "a jti is its audit event's id, which belongs to one chain",
	"mapping_exceptions(mapping_id,user_id)": "a mapping belongs to one connection",
	// One live grant per source, user, role and org. user_id is a SCIM user's random id;
	// adding connection_id here, while the column may still be NULL, would let NULL rows
	// repeat (NULLs are distinct in a unique index).
	"grants(org_id,role_id,source,source_id,user_id)": "a user's id is random and names one connection's user",
	// An event belongs to one chain.
	"outbox(event_id,subscription_id)":              "an event belongs to one chain",
	"revocation_receipts(event_id,subscription_id)": "an event belongs to one chain",
}

// Tables that are not distributed, each with its reason. Reference tables are small,
// written rarely and read by every connection's requests, so a Citus deployment copies
// them to every node; deployment-wide tables hold state of the whole deployment.
var referenceTables = map[string]string{
	"schema_migrations": "deployment-wide: the applied migrations",
	// The org tree: read by every authority check, walked across connections.
	"orgs":                "reference: the org tree",
	"connections":         "reference: one row per connection, found by slug before the tenant is known",
	"roles":               "reference: the role catalogue",
	"role_permissions":    "reference: the role catalogue",
	"delegations":         "reference: grants of authority over an org subtree, held by users of any connection",
	"domain_claims":       "reference: a domain is verified by one org across the deployment (a cross-tenant unique key)",
	"onboarding_requests": "reference: proposals for new orgs and connections, before the connection exists",
	"review_campaigns":    "reference: an access review covers an org subtree, whose grants come from many connections",
	"review_items":        "reference: the decisions of a review over an org subtree (written at review time, not on the SCIM path)",
	"review_mappings":     "reference: the decisions of a review over an org subtree (written at review time, not on the SCIM path)",
	// Credentials are looked up by their hash before the connection is known.
	"tokens":                "reference: found by hash before the connection is known",
	"setup_links":           "reference: found by hash before the connection is known",
	"admin_keys":            "deployment-wide: operator and delegated admin keys, found by hash",
	"console_sessions":      "reference: found by cookie hash before the connection is known; operator sessions have none",
	"console_links":         "deployment-wide: operators' sign-in links",
	"webhook_subscriptions": "reference: few rows; a subscription without a connection is deployment-wide",
	// Background work over the whole deployment, run by one elected replica.
	"reconcile_runs": "deployment-wide: one reconciler run covers every connection",
	"import_batches": "deployment-wide: an operator's CSV import spans orgs and connections",
	// The audit transparency log: one Merkle tree over every chain, appended to by the
	// one elected sealer, so it cannot be split.
	"audit_log":           "deployment-wide: the transparency log",
	"audit_log_state":     "deployment-wide: the transparency log's head",
	"audit_tree":          "deployment-wide: the transparency log's tree",
	"audit_checkpoints":   "deployment-wide: the transparency log's signed checkpoints",
	"audit_event_numbers": "deployment-wide: SQLite's event counter (a sequence on PostgreSQL)",
	// Vendor staff acting in support of an org: few rows, checked with an operator key
	// before any connection is in play.
	"support_sessions":    "reference: a support session covers an org, not a connection; found with the operator's key",
	"deployment_settings": "deployment-wide: the deployment's policies (the support policy)",
	// Non-human identities belong to an org, not to a connection, and their tokens are
	// found by hash before anything else is known.
	"service_accounts":        "reference: a service account belongs to an org and answers to an owner of any covering connection",
	"integration_tokens":      "reference: found by hash before the service account is known",
	"operator_key_identities": "deployment-wide: the vendor's named operator keys",
	// An MSP engagement joins two orgs of different subtrees; it is found from either.
	"msp_engagements": "reference: an engagement joins an MSP org and a customer org outside its subtree, found from either side",
	// Shared Signals receivers and their streams: few rows, found by token hash or read
	// by every write of a tenant (like webhook subscriptions); a receiver without a
	// connection is deployment-wide.
	"ssf_receivers": "reference: found by token hash before any tenant is known; may span every tenant",
	"ssf_streams":   "reference: few rows, read by every write like webhook subscriptions; may span every tenant",
	"ssf_subjects":  "reference: a stream's removed subjects, read with its stream",
}

type tenantSchema struct {
	tables  []string
	columns map[string]bool // table.column -> NOT NULL
	keys    map[string][]uniqueKey
}

type uniqueKey struct {
	kind    string // "primary key" or "unique index"
	columns []string
}

func (s tenantSchema) hasKey(name string) bool {
	for table, keys := range s.keys {
		for _, k := range keys {
			if table+"("+strings.Join(k.columns, ",")+")" == name {
				return true
			}
		}
	}
	return false
}

// readTenantSchema reads tables, columns and unique keys (primary keys included) from the
// catalog of the engine. Key columns are sorted, so a key reads the same on both.
func readTenantSchema(t *testing.T, db *sqlstore.DB) tenantSchema {
	t.Helper()
	var q map[string]string
	if db.Engine() == "postgres" {
		q = map[string]string{
			"tables": `SELECT table_name FROM information_schema.tables
				WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
			"columns": `SELECT table_name || '|' || column_name || '|' || CASE is_nullable WHEN 'NO' THEN '1' ELSE '0' END
				FROM information_schema.columns WHERE table_schema = current_schema()`,
			"keys": `SELECT t.relname || '|' || CASE WHEN x.indisprimary THEN 'primary key' ELSE 'unique index' END || '|' ||
					(SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_attribute a
					 WHERE a.attrelid = t.oid AND a.attnum = ANY(x.indkey))
				FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid
				WHERE t.relnamespace = current_schema()::regnamespace AND x.indisunique`,
		}
	} else {
		q = map[string]string{
			"tables": `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
			// SQLite lets a non-INTEGER primary key column hold NULL unless it says NOT
			// NULL; the migrations' primary keys are never written NULL, and PostgreSQL
			// (which refuses it) holds the same migrations to it.
			"columns": `SELECT m.name || '|' || p.name || '|' || CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN '1' ELSE '0' END
				FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`,
			"keys": `SELECT m.name || '|primary key|' || (SELECT group_concat(n, ',') FROM
					(SELECT p.name AS n FROM pragma_table_info(m.name) p WHERE p.pk > 0 ORDER BY p.name))
				FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
				  AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.pk > 0)
				UNION ALL
				SELECT m.name || '|unique index|' || (SELECT group_concat(n, ',') FROM
					(SELECT ii.name AS n FROM pragma_index_info(il.name) ii ORDER BY ii.name))
				FROM sqlite_master m, pragma_index_list(m.name) il
				WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND il."unique" = 1 AND il.origin != 'pk'`,
		}
	}
	read := func(what string) []string {
		rows, err := db.Strings(q[what])
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return rows
	}
	s := tenantSchema{tables: read("tables"), columns: map[string]bool{}, keys: map[string][]uniqueKey{}}
	sort.Strings(s.tables)
	for _, row := range read("columns") {
		f := strings.Split(row, "|")
		s.columns[f[0]+"."+f[1]] = f[2] == "1"
	}
	for _, row := range read("keys") {
		f := strings.Split(row, "|")
		cols := strings.Split(f[2], ",")
		sort.Strings(cols)
		s.keys[f[0]] = append(s.keys[f[0]], uniqueKey{kind: f[1], columns: cols})
	}
	if len(s.keys) == 0 {
		t.Fatalf("no unique keys read on %s", db.Engine())
	}
	return s
}
