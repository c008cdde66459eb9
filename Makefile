# orgscim — the two commands: `make run` and `make test`.
GO       ?= go
BIN      := bin/orgscim
ADDR     ?= 127.0.0.1:8080

.PHONY: run test build vet conformance bench bench-audit bench-jackson fuzz model scaleout clean redocly axe

## run: build and start the server on $(ADDR) with the embedded SQLite database under ./data/
run: build
	@mkdir -p data
	./$(BIN) serve --addr $(ADDR)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/orgscim

## test: the whole suite; PostgreSQL too when ORGSCIM_TEST_DATABASE_URL is set.
## Prints go test's results, every skipped test with its reason, and "N passed, N failed,
## N skipped"; bin/test.json keeps the raw events, bin/test-skips.txt the skips.
## STRICT_SKIPS=1 (as .ci/run sets) fails on a skip that .ci/allowed-skips does not name.
STRICT_SKIPS ?=
test: vet
	@if [ -z "$$ORGSCIM_TEST_DATABASE_URL" ]; then \
	  echo "NOTE: ORGSCIM_TEST_DATABASE_URL is not set: the PostgreSQL runs of the storage and end-to-end suites are SKIPPED (SQLite only)."; \
	fi
	@mkdir -p bin
	$(GO) build -o bin/testreport ./internal/testreport
	CGO_ENABLED=0 ./bin/testreport -allowed .ci/allowed-skips $(if $(STRICT_SKIPS),-strict) \
	  -json bin/test.json -skips bin/test-skips.txt -- $(GO) test -json -count=1 -timeout 50m ./...

vet:
	$(GO) vet ./...

## redocly: install Redocly CLI (pinned in .ci/tools) into bin/tools, for the OpenAPI lint test
redocly: bin/tools/.installed
bin/tools/.installed: .ci/tools/package.json .ci/tools/package-lock.json
	@command -v npm >/dev/null || { echo "make redocly needs npm (apt-get install -y nodejs npm)"; exit 1; }
	@mkdir -p bin/tools
	cp .ci/tools/package.json .ci/tools/package-lock.json bin/tools/
	npm ci --prefix bin/tools --no-audit --no-fund --loglevel=error
	@touch $@

## axe: install axe-core (pinned in .ci/axe) into bin/axe, for the console's accessibility checks in Chromium
axe: bin/axe/.installed
bin/axe/.installed: .ci/axe/package.json .ci/axe/package-lock.json
	@command -v npm >/dev/null || { echo "make axe needs npm (apt-get install -y nodejs npm)"; exit 1; }
	@mkdir -p bin/axe
	cp .ci/axe/package.json .ci/axe/package-lock.json bin/axe/
	npm ci --prefix bin/axe --no-audit --no-fund --loglevel=error
	@touch $@

## conformance: Microsoft's SCIM collection against a fresh server and connection
conformance: build
	./scripts/conformance.sh

## bench: the PostgreSQL benchmarks of users (storage and HTTP); needs ORGSCIM_TEST_DATABASE_URL
bench:
	@test -n "$$ORGSCIM_TEST_DATABASE_URL" || { echo "make bench needs ORGSCIM_TEST_DATABASE_URL (PostgreSQL)"; exit 1; }
	$(GO) test -run '^$$' -bench UsersPostgres -benchtime 2000x -timeout 60m ./sqlstore/ ./cmd/orgscim/

## bench-audit: audit verify over 1,000,000 sealed events (time, peak heap); needs ORGSCIM_TEST_DATABASE_URL
bench-audit:
	@test -n "$$ORGSCIM_TEST_DATABASE_URL" || { echo "make bench-audit needs ORGSCIM_TEST_DATABASE_URL (PostgreSQL)"; exit 1; }
	$(GO) test -run '^$$' -bench BenchmarkAuditVerify -benchtime 1x -timeout 30m ./sqlstore/

## bench-jackson: orgscim and BoxyHQ Jackson's SCIM (installed from npm into bin/jackson) side by
## side, interleaved, same load tool (scripts/jackson-side-by-side.sh); needs ORGSCIM_TEST_DATABASE_URL
## (a local PostgreSQL), node and npm. BENCH_JACKSON_FLAGS are the load tool's flags.
BENCH_JACKSON_FLAGS ?= --users 5000 --concurrency 8
bench-jackson: build
	@test -n "$$ORGSCIM_TEST_DATABASE_URL" || { echo "make bench-jackson needs ORGSCIM_TEST_DATABASE_URL (PostgreSQL)"; exit 1; }
	./scripts/jackson-side-by-side.sh "$$ORGSCIM_TEST_DATABASE_URL" $(BENCH_JACKSON_FLAGS)

## fuzz: the fuzz targets, FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseFilter$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./scim/
	$(GO) test -run '^$$' -fuzz '^FuzzApplyPatch$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./scim/
	$(GO) test -run '^$$' -fuzz '^FuzzSimpleComparison$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./scim/

## model: the long model-based run of the authority rule (20 seeds x 500 steps per engine;
## PostgreSQL too when ORGSCIM_TEST_DATABASE_URL is set). make test runs a short one.
MODEL_SEEDS ?= 20x
MODEL_STEPS ?= 500
model:
	ORGSCIM_MODEL_SEEDS=$(MODEL_SEEDS) ORGSCIM_MODEL_STEPS=$(MODEL_STEPS) CGO_ENABLED=0 $(GO) test -count=1 -v -timeout 120m \
	  -run '^TestAuthorityModel$$' ./cmd/orgscim/ 2>&1 | grep -v '^=== ' | grep -E 'model|steps|^(ok|FAIL|---)'

## scaleout: three replicas on one PostgreSQL behind a reverse proxy, one SIGKILLed mid-run,
## with more load than make test gives it (SCALEOUT_USERS users, 4 writes each, over
## SCALEOUT_WORKERS IdP workers); needs ORGSCIM_TEST_DATABASE_URL
SCALEOUT_USERS ?= 1000
SCALEOUT_WORKERS ?= 16
scaleout:
	@test -n "$$ORGSCIM_TEST_DATABASE_URL" || { echo "make scaleout needs ORGSCIM_TEST_DATABASE_URL (PostgreSQL)"; exit 1; }
	ORGSCIM_SCALEOUT_USERS=$(SCALEOUT_USERS) ORGSCIM_SCALEOUT_WORKERS=$(SCALEOUT_WORKERS) CGO_ENABLED=0 \
	  $(GO) test -count=1 -v -timeout 30m -run '^TestReplicasSurviveAKill$$' ./cmd/orgscim/ 2>&1 | grep -v '^=== '

clean:
	rm -rf bin data
