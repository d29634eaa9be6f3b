# The rollout benchmark of issue 7 (test/bench/rollout): a Kubernetes rollout
# replayed against real `ratify serve` processes as Gatekeeper's webhook sends
# it, with an in-process registry adding latency and throttling. It prints
# markdown tables for BENCHMARKS.md, headed by the command that reproduces
# them, and writes them to $(ROLLOUT_OUT). `make test` runs only its smoke test.
# Flags (see test/bench/rollout/rollout_test.go), e.g.
#   make bench-rollout ROLLOUT_FLAGS='-scenarios b -rate 20 -retries 20'
#   make bench-rollout ROLLOUT_FLAGS='-scenarios a -replicas 3'   # 3 replicas, no shared cache
ROLLOUT_FLAGS ?= -scenarios all -replicas 1,3 -cache-type redis
ROLLOUT_OUT ?= $(CURDIR)/.cache/bench/rollout.md

.PHONY: bench-rollout
bench-rollout:
	mkdir -p $(dir $(ROLLOUT_OUT))
	$(GO) test -count=1 -timeout 60m -run '^TestRollout$$' -v ./test/bench/rollout \
	  -args $(ROLLOUT_FLAGS) -out $(ROLLOUT_OUT)

bench: bench-rollout

# The warm provider benchmark of issue 7 (internal/server BenchmarkWarm):
# every result and tag cached, one ProviderRequest of 3 keys per pod, in
# process and over loopback HTTP; keys/s, p50/p99 per request, CPU per
# request. `make bench` runs it too, with every other benchmark.
.PHONY: bench-warm
bench-warm:
	$(GO) test -run '^$$' -bench '^BenchmarkWarm$$' -benchtime 2s -count 3 ./internal/server
