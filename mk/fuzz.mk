# Fuzzing (issue 9): every native Go fuzz target (`func FuzzXxx(f *testing.F)`)
# of the module, found by tools/fuzz.sh, run one after the other with
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime $(FUZZTIME) ./pkg
# Seed corpora are the targets' f.Add calls and testdata/fuzz/FuzzXxx/ in each
# package (plain `go test` runs them too); what fuzzing finds interesting is
# kept in $(go env GOCACHE)/fuzz (`go clean -fuzzcache` empties it). The
# first failure stops the run and names the target and the file Go wrote the
# failing input to.
#   make fuzz                                    # 30s a target
#   make fuzz FUZZTIME=10m FUZZ_MATCH=Envelope   # longer, some targets only
#   make fuzz FUZZ_PKGS=./verifier/...           # some packages only
# Each input that finds new coverage (or fails) is shrunk for at most
# FUZZMINIMIZETIME calls (go test's default, 60s, would spend a whole 30s run
# of a slow target shrinking its first find). `make test` runs fuzz-brief:
# each target for FUZZTIME_BRIEF calls (a count, not a duration: Go 1.26's
# coordinator can fail a duration-bound run at its deadline without any
# input, golang/go#75804, which tools/fuzz.sh otherwise retries once),
# shrinking for FUZZMINIMIZETIME_BRIEF calls.
# Fuzzing builds an instrumented copy of each package and its dependencies,
# cached as any build: on two cores fuzz-brief takes about 3 minutes once
# that is cached, about 9 the first time.
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 1000x
FUZZTIME_BRIEF ?= 1000x
FUZZMINIMIZETIME_BRIEF ?= 100x
FUZZ_PKGS ?= ./...
FUZZ_MATCH ?= .
export FUZZ_MATCH

.PHONY: fuzz fuzz-brief
fuzz:
	GO=$(GO) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) tools/fuzz.sh $(FUZZTIME) $(FUZZ_PKGS)

fuzz-brief:
	GO=$(GO) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME_BRIEF) tools/fuzz.sh $(FUZZTIME_BRIEF) $(FUZZ_PKGS)

test: fuzz-brief
