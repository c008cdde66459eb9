# orgscim — the two commands: `make run` and `make test`.
GO       ?= go
BIN      := bin/orgscim
ADDR     ?= 127.0.0.1:8080

.PHONY: run test build vet conformance bench bench-audit fuzz clean

## run: build and start the server on $(ADDR) with the embedded SQLite database under ./data/
run: build
	@mkdir -p data
	./$(BIN) serve --addr $(ADDR)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/orgscim

## test: the whole suite; PostgreSQL too when ORGSCIM_TEST_DATABASE_URL is set
test: vet
	@if [ -z "$$ORGSCIM_TEST_DATABASE_URL" ]; then \
	  echo "NOTE: ORGSCIM_TEST_DATABASE_URL is not set: the PostgreSQL runs of the storage and end-to-end suites are SKIPPED (SQLite only)."; \
	fi
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

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

## fuzz: the fuzz targets, FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseFilter$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./scim/
	$(GO) test -run '^$$' -fuzz '^FuzzApplyPatch$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./scim/

clean:
	rm -rf bin data
