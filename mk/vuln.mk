# govulncheck against the Go vulnerability database, offline: the database
# is generated from the reports in golang.org/x/vulndb at the version pinned
# in tools/vuln/go.mod (bump it to take newer reports; `go get
# golang.org/x/vulndb@master` in tools/vuln where the proxy serves it).
# gendb reads a git repository, so the reports are copied into one first.
# vulngate (tools/vuln/vulngate) then fails the build on every called
# vulnerability in a required module, and on every called one in the
# standard library unless the Go that builds release binaries (the
# Dockerfile's GO_VERSION) has its fix; those are listed as warnings.
#   make vulncheck            # part of make test
VULN_BIN := $(CURDIR)/.cache/bin
VULN_DB := $(CURDIR)/.cache/vulndb
RELEASE_GO := $(shell sed -n 's/^ARG GO_VERSION=//p' Dockerfile)

.PHONY: vulncheck vulndb
$(VULN_BIN)/govulncheck $(VULN_BIN)/gendb $(VULN_BIN)/vulngate: tools/vuln/go.mod tools/vuln/go.sum tools/vuln/vulngate/main.go
	cd tools/vuln && $(GO) build -o $(VULN_BIN)/ golang.org/x/vuln/cmd/govulncheck golang.org/x/vulndb/cmd/gendb ./vulngate

vulndb: $(VULN_DB)/index/db.json

$(VULN_DB)/index/db.json: $(VULN_BIN)/gendb tools/vuln/go.mod
	rm -rf $(VULN_DB) $(VULN_DB).repo
	mkdir -p $(VULN_DB).repo
	cp -r "$$(cd tools/vuln && $(GO) list -m -f '{{.Dir}}' golang.org/x/vulndb)/data" $(VULN_DB).repo/
	chmod -R u+w $(VULN_DB).repo
	cd $(VULN_DB).repo && git init -q && git add -A && \
	  git -c user.email=vulndb@localhost -c user.name=vulndb commit -qm "golang.org/x/vulndb data"
	$(VULN_BIN)/gendb -repo $(VULN_DB).repo -out $(VULN_DB)
	rm -rf $(VULN_DB).repo

vulncheck: $(VULN_BIN)/govulncheck $(VULN_BIN)/vulngate vulndb
	cd tools/vuln && $(GO) test -count=1 ./vulngate
	$(VULN_BIN)/govulncheck -db file://$(VULN_DB) -format json ./... > $(VULN_DB)/scan.json
	$(VULN_BIN)/vulngate -release-go $(RELEASE_GO) < $(VULN_DB)/scan.json

test: vulncheck
