#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz) with clang, libFuzzer, ASan and UBSan in their own build
# folder and runs each for SECONDS seconds (default 60), one after another.
#   scripts/fuzz.sh [SECONDS] [TARGET...]       e.g. scripts/fuzz.sh 3600 safetensors
# Environment: FUZZ_BUILD_DIR (default build-fuzz), JOBS (default nproc), FUZZ_WORKERS (parallel
# fuzzing processes per target, default 1), FUZZ_RUNS (instead of SECONDS: exactly this many
# inputs per target from a fixed random seed and the seeds alone, so that two runs try the same
# inputs; the corpus of earlier runs is not used then. FUZZ_RUNS=ci: each target's own CI count,
# about 20 seconds of it -- what CI does; FUZZ_RUNS_CAP, default 120, bounds such a run in
# seconds: a target whose inputs drift slow stops there with a warning, not a failure, since how
# far it gets depends on the machine).
# New inputs that reach new code go to FUZZ_BUILD_DIR/corpus/<target>/ (kept between runs); a
# crash is saved as FUZZ_BUILD_DIR/findings/<target>/crash-*, the run stops with exit 1 and names
# it. Copy it into tests/fuzz/regressions/<target>/ with the fix: the normal test suite replays it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-$(nproc)}
workers=${FUZZ_WORKERS:-1}
runs_cap=${FUZZ_RUNS_CAP:-120}

sloppiness=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-$sloppiness}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
if [[ ! -f $build/CMakeCache.txt ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELGROW_FUZZ=ON
fi
# Only the targets asked for are built: the tokenizer targets need no LibTorch and build in a
# minute, the others need the whole library under ASan.
build_targets=(fuzz_targets)
(($# > 0)) && build_targets=("${@/#/fuzz_}")
cmake --build "$build" -j "$jobs" --target "${build_targets[@]}"

supp=$root/scripts/sanitizers
# An allocation no machine can satisfy (HDF5 asks for 484 TB when a damaged file says so) returns
# null, as glibc's malloc does outside ASan, and the library reports its error; one that could be
# satisfied but exceeds -malloc_limit_mb is still a finding.
asan=detect_leaks=1:detect_odr_violation=0:allocator_may_return_null=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
ubsan=print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-$ubsan}
export OMP_NUM_THREADS=1

# One of libFuzzer's -print_final_stats numbers ("stat::NAME: N") from LOG, or '?'.
final_stat() {
  grep -o "stat::$1: *[0-9]*" "$2" | tail -1 | grep -o '[0-9]*$' || echo '?'
}

failed=()
summary=()
while IFS='|' read -r name dict seeds ci_runs; do
  [[ -z $name ]] && continue
  if (($# > 0)) && [[ " $* " != *" $name "* ]]; then continue; fi
  corpus=$build/corpus/$name
  findings=$build/findings/$name
  mkdir -p "$corpus" "$findings"
  args=(-timeout=25 -rss_limit_mb=4096 -malloc_limit_mb=4096 -artifact_prefix="$findings/"
        -print_final_stats=1)
  runs=${FUZZ_RUNS:-}
  [[ $runs == ci ]] && runs=$ci_runs
  if [[ $runs == 0 ]]; then
    summary+=("fuzz_$name: not fuzzed in CI (tests/fuzz/CMakeLists.txt says why)")
    continue
  fi
  if [[ -n $runs ]]; then
    args+=(-runs="$runs" -seed=1 -max_total_time="$runs_cap")
    corpus=$build/corpus-fixed/$name
    rm -rf "$corpus" && mkdir -p "$corpus"
  else
    args+=(-max_total_time="$seconds")
  fi
  [[ -n $dict ]] && args+=(-dict="$dict")
  ((workers > 1)) && args+=(-fork="$workers")
  # libFuzzer reads corpus folders only: seed files and folders are gathered into one.
  seed_dir=$build/seeds/$name
  rm -rf "$seed_dir" && mkdir -p "$seed_dir"
  # shellcheck disable=SC2086  # seeds is a space-separated list of paths without spaces
  for seed in $seeds $root/tests/fuzz/regressions/$name; do
    if [[ -d $seed ]]; then
      find "$seed" -type f -exec \
        sh -c 'cp "$1" "$2/$(echo "$1" | md5sum | cut -c1-16)"' _ {} "$seed_dir" \;
    elif [[ -f $seed ]]; then
      cp "$seed" "$seed_dir/$(echo "$seed" | md5sum | cut -c1-16)"
    fi
  done
  budget=${runs:+$runs inputs}
  echo "== fuzz_$name: ${budget:-${seconds}s}"
  started=$(date +%s)
  if "$build/bin/fuzz_$name" "${args[@]}" "$corpus" "$seed_dir" 2>"$build/fuzz_$name.log"; then
    executed=$(final_stat number_of_executed_units "$build/fuzz_$name.log")
    slowest=$(final_stat slowest_unit_time_sec "$build/fuzz_$name.log")
    took=$(($(date +%s) - started))
    summary+=("fuzz_$name: clean, $executed executions in $took s, slowest input $slowest s,\
 corpus $(ls "$corpus" | wc -l)")
    if [[ -n $runs && $executed != "$runs" ]]; then
      # libFuzzer saves an input as slow-unit-* when it takes 10 s or more (-report_slow_units).
      slow_units=$(find "$findings" -name 'slow-unit-*' -newermt "@$started" -printf '%p ')
      summary+=("  WARNING: stopped at the $runs_cap s cap after $executed of $runs inputs\
${slow_units:+; slow inputs: $slow_units}")
    fi
  else
    failed+=("$name")
    summary+=("fuzz_$name: FAILED, see $build/fuzz_$name.log and $findings/")
    tail -40 "$build/fuzz_$name.log" >&2
  fi
done <"$build/fuzz/targets.txt"
printf '%s\n' "${summary[@]}"
((${#failed[@]} == 0)) || { echo "fuzzing found problems in: ${failed[*]}" >&2; exit 1; }
