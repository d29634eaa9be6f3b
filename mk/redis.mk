# Redis for the tests of the shared result cache (cache/redis, internal/server,
# cmd/ratify): Debian's redis-server, which internal/testredis starts on a free
# loopback port per test, without persistence. It is a system package, not
# built here: install it with `apt-get install -y redis-server` (.ci/run does).
# RATIFY_TEST_REDIS names the binary; the tests fall back to redis-server on
# $PATH when it is unset or empty.
RATIFY_TEST_REDIS ?= $(shell command -v redis-server 2>/dev/null)
export RATIFY_TEST_REDIS

.PHONY: redis-check
# redis-check installs Debian's redis-server when it is missing and make runs
# as root with apt-get at hand (a fresh CI machine); otherwise it says how.
redis-check:
	@if [ -z "$(RATIFY_TEST_REDIS)" ] || [ ! -x "$(RATIFY_TEST_REDIS)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (Debian package) for the tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	  else \
	    echo "redis-server not found: apt-get update && apt-get install -y redis-server (Debian), or set RATIFY_TEST_REDIS" >&2; \
	    exit 1; \
	  fi; \
	fi
	@$${RATIFY_TEST_REDIS:-redis-server} --version

test: redis-check
