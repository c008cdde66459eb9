package orgscim_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The domain is plain Go (DESIGN.md): these packages speak in domain types and errors,
// and storage, HTTP and protocol libraries stay in the adapters that translate for
// them. A domain package that imports one of these has let an adapter in.
var domainPackages = []string{"audit", "imports", "onboarding", "orgs", "provisioning", "reconcile", "reviews", "sessions", "domains", "support", "msp"}

var adapterImports = []string{
	"net/http", "database/sql", "html/template",
	"github.com/labstack/echo", "gorm.io/", "github.com/jackc/", "github.com/glebarez/", "modernc.org/",
	"github.com/elimity-com/scim", "github.com/scim2/",
	"github.com/orgscim/orgscim/sqlstore", "github.com/orgscim/orgscim/scim", "github.com/orgscim/orgscim/adminapi",
	"github.com/orgscim/orgscim/webhooks", "github.com/orgscim/orgscim/connhealth", "github.com/orgscim/orgscim/setuppage",
	"github.com/orgscim/orgscim/httpmetrics", "github.com/orgscim/orgscim/internal/httpstatus", "github.com/orgscim/orgscim/internal/keyauth", "github.com/orgscim/orgscim/domaincheck", "github.com/orgscim/orgscim/authzen", "github.com/orgscim/orgscim/ssf", "github.com/orgscim/orgscim/cmd/", "github.com/orgscim/orgscim/console",
	"github.com/coreos/go-oidc", "golang.org/x/oauth2",
}

// Only cmd/orgscim wires: no other package imports it, and adapters do not import one
// another's protocols.
var adapterRules = map[string][]string{
	"sqlstore":    {"net/http", "github.com/labstack/echo", "github.com/orgscim/orgscim/scim", "github.com/orgscim/orgscim/adminapi"},
	"scim":        {"gorm.io/", "database/sql", "github.com/orgscim/orgscim/sqlstore", "github.com/orgscim/orgscim/adminapi"},
	"adminapi":    {"gorm.io/", "database/sql", "github.com/orgscim/orgscim/sqlstore", "github.com/orgscim/orgscim/scim"},
	"webhooks":    {"github.com/labstack/echo", "gorm.io/", "github.com/orgscim/orgscim/sqlstore"},
	"connhealth":  {"github.com/labstack/echo", "gorm.io/", "github.com/orgscim/orgscim/sqlstore"},
	"setuppage":   {"gorm.io/", "database/sql", "github.com/orgscim/orgscim/sqlstore"},
	"httpmetrics": {"gorm.io/", "github.com/orgscim/orgscim/sqlstore"},
	"console":     {"gorm.io/", "database/sql", "github.com/orgscim/orgscim/sqlstore", "github.com/orgscim/orgscim/adminapi", "github.com/orgscim/orgscim/scim"},
	"domaincheck": {"github.com/labstack/echo", "gorm.io/", "database/sql", "github.com/orgscim/orgscim/sqlstore"},
	"ssf": {"gorm.io/", "database/sql", "github.com/orgscim/orgscim/sqlstore", "github.com/orgscim/orgscim/adminapi",
		"github.com/orgscim/orgscim/scim", "github.com/orgscim/orgscim/console"},
	"authzen": {"gorm.io/", "database/sql", "github.com/orgscim/orgscim/sqlstore", "github.com/orgscim/orgscim/adminapi",
		"github.com/orgscim/orgscim/scim", "github.com/orgscim/orgscim/webhooks"},
}

func TestLayering(t *testing.T) {
	rules := map[string][]string{}
	for _, p := range domainPackages {
		rules[p] = adapterImports
	}
	for p, forbidden := range adapterRules {
		rules[p] = append(forbidden, "github.com/orgscim/orgscim/cmd/")
	}
	for dir, forbidden := range rules {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("package %s: no Go files (%v)", dir, err)
			continue
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue // tests may drive real storage
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range forbidden {
					if path == strings.TrimSuffix(bad, "/") || strings.HasPrefix(path, bad) {
						t.Errorf("%s imports %s: %s must not depend on it", f, path, dir)
					}
				}
			}
		}
	}
}
