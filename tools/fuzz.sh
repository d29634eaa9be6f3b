#!/usr/bin/env bash
# Runs every native Go fuzz target of the module, one after the other, each
# for FUZZTIME (a duration such as 30s, or an iteration count such as 500x):
#
#   tools/fuzz.sh FUZZTIME [PACKAGE...]     (make fuzz / make fuzz-brief)
#
# Targets are the functions `func FuzzXxx(f *testing.F)` in the test files
# `go list` gives for each package (so build constraints and nested modules
# are honoured, and nothing is compiled to find them). PACKAGE narrows the
# run to some packages (default ./...); FUZZ_MATCH narrows it to the targets
# whose name matches an extended regular expression; FUZZMINIMIZETIME, when
# set, is passed as -fuzzminimizetime (how long to shrink each input that
# finds new coverage, or fails, before going on; go test's default is 60s).
#
# Each target is run as `go test -run '^$' -fuzz '^Name$' -fuzztime FUZZTIME`
# (and -timeout 0: go test's default 10m would end a longer FUZZTIME),
# which first runs its seed corpus (the f.Add calls and testdata/fuzz/Name/)
# and then mutates it; inputs that find new coverage are kept in the Go build
# cache ($GOCACHE/fuzz), not in the tree. The first failure stops the run
# with the target's name and the file Go wrote the failing input to.
set -euo pipefail
fuzztime=${1:?usage: tools/fuzz.sh FUZZTIME [PACKAGE...]}
shift
[[ $# -gt 0 ]] || set -- ./...
go=${GO:-go}
match=${FUZZ_MATCH:-.}
flags=()
[[ -z ${FUZZMINIMIZETIME:-} ]] || flags=(-fuzzminimizetime "$FUZZMINIMIZETIME")
cd "$(dirname "$0")/.."
root=$(pwd)

# Directory and test files of every package, one package a line.
mapfile -t pkgs < <("$go" list -f '{{.Dir}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' "$@")
targets=()
for line in "${pkgs[@]}"; do
  read -r dir files <<<"$line"
  [[ -n $files ]] || continue
  rel=./${dir#"$root"/}
  [[ $dir == "$root" ]] && rel=.
  for name in $(cd "$dir" && sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\).*/\1/p' $files | sort -u); do
    if [[ $name =~ $match ]]; then
      targets+=("$rel $name")
    fi
  done
done
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz: no fuzz targets in $* matching '$match'" >&2
  exit 1
fi

echo "fuzz: ${#targets[@]} targets, -fuzztime $fuzztime each${FUZZMINIMIZETIME:+, -fuzzminimizetime $FUZZMINIMIZETIME}"
log=$(mktemp "${TMPDIR:-/tmp}/ratify-fuzz.XXXXXX")
trap 'rm -f "$log"' EXIT
start=$SECONDS
# fuzzone runs one target; 0 when it passed.
fuzzone() {
  "$go" test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" ${flags[@]+"${flags[@]}"} -timeout 0 "$1" >"$log" 2>&1
}
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  began=$SECONDS
  ok=0
  fuzzone "$pkg" "$name" || ok=$?
  # Go 1.26's fuzzing coordinator can fail a target whose -fuzztime (a
  # duration) ends while a worker is mid-call, with "context deadline
  # exceeded" and no failing input (golang/go#75804, fixed in Go 1.27):
  # that is the harness, not a find, so the target runs once more.
  if [[ $ok -ne 0 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
    echo "fuzz: $name stopped on Go's fuzzing-coordinator race (golang/go#75804), not on an input; running it again" >&2
    ok=0
    fuzzone "$pkg" "$name" || ok=$?
  fi
  if [[ $ok -eq 0 ]]; then
    printf 'fuzz: ok    %-28s %-32s %3ds  %s\n' "$name" "$pkg" $((SECONDS - began)) \
      "$(grep -Eo 'execs: [0-9]+' "$log" | tail -1)"
    continue
  fi
  cat "$log" >&2
  echo >&2
  echo "fuzz: FAIL  $name in $pkg" >&2
  # Go writes the input that failed to the package's testdata/fuzz/<Name>/;
  # from then on plain `go test` runs it as a seed, and fails, until the
  # parser is fixed (keep it then, as the regression test) or it is removed.
  crasher=$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]+).*/\1/p' "$log" | tail -1)
  if [[ -n $crasher ]]; then
    echo "fuzz: failing input: $pkg/$crasher" >&2
    echo "fuzz: reproduce with: go test -run '^$name/${crasher##*/}\$' $pkg" >&2
  else
    echo "fuzz: no failing input was written (a build error, or a seed of the corpus failed: see above)" >&2
  fi
  exit 1
done
echo "fuzz: all ${#targets[@]} targets passed in $((SECONDS - start))s"
