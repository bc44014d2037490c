#!/usr/bin/env bash
# Builds the test suite with sanitizers in its own build folder and runs it.
#   scripts/sanitize.sh address                   ASan + UBSan (build-asan/): the whole suite
#   scripts/sanitize.sh thread                    TSan (build-tsan/): the data loader's worker
#                                                 threads, export, the text cache, c10d
#   scripts/sanitize.sh address|thread [ctest args...]   only the ctest tests these select
# The whole suite runs each GoogleTest program once, all its tests in one process, JOBS at a time:
# a sanitized process takes about 3 s to start (LibTorch under ASan), and even ctest's one process
# per suite (150 of them) adds minutes. The replays of the fuzz inputs and the shipped
# manifests' checks follow through ctest (address). Each program's log is kept in
# <build>/sanitize-logs/.
# Environment: JOBS (default nproc), SANITIZE_BUILD_DIR, CC/CXX (default: the system compiler),
# SANITIZE_PROGRAMS (a regex: run only the GoogleTest programs whose paths match it),
# SANITIZE_TARGETS (build only these targets, e.g. the parsers' tests on a small machine; then
# name their tests in the ctest arguments too, e.g. -R 'Fuzz|Limits|Tokenizer').
# LibTorch, HDF5, FFmpeg and OpenBLAS are Debian's uninstrumented libraries: what the sanitizers
# report inside them is suppressed by scripts/sanitizers/*.supp (each entry says why); what they
# report in our code fails the test that ran it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-}
# Tests that load SentencePiece's own library (T5 and Llama tokenizers from a .model file) cannot
# run under a sanitizer: libmodelgrow_text opens it with RTLD_DEEPBIND to keep its bundled
# protobuf (3.14) apart from LibTorch's (3.21), the sanitizer runtimes refuse DEEPBIND
# (google/sanitizers#611), and without it the two protobufs clash. Our reader of .model files is
# fuzzed under ASan + UBSan instead (fuzz_sentencepiece).
sentencepiece_tests=('Tokenizer.*' 'TinyModels.*' 'TinyModelOptions.*' 'LlmPlugin.*' 'T5Plugin.*'
  'TextCli.*' 'Generation.*' 'ModelTokenizer.*' 'PromptFormat.*' 'SentencePieceConversion.*'
  'Text/TextExample.*/llm_*' 'Text/TextExample.*/t5_*'
  'EngineCli.MadeTextModelsAreFoundRelativeToTheCheckpoint')
sentencepiece_filter=-$(IFS=:; echo "${sentencepiece_tests[*]}")
case $kind in
  address) suffix=asan selected='*' ;;
  thread)
    # Tests whose names hold these words (GoogleTest patterns).
    suffix=tsan
    selected='*Loader*:*Export*:*TextCache*:*TextEncoderCache*:*DataLoader*:*Communicator*'
    selected+=':*DistributedTrain*:*GradientReducer*:*DistributedAdamW*:*FolderLock*:*Progress*' ;;
  *) echo "usage: scripts/sanitize.sh address|thread [ctest args...]" >&2; exit 2 ;;
esac
shift
build=${SANITIZE_BUILD_DIR:-$root/build-$suffix}
jobs=${JOBS:-$(nproc)}
BUILD_DIR=$build JOBS=$jobs BUILD_TARGETS=${SANITIZE_TARGETS:-} "$root/scripts/build.sh" \
  -DMODELGROW_SANITIZE="$kind"

supp=$root/scripts/sanitizers
# Plugins and the CLI are started by tests as child processes and inherit these.
# allocator_may_return_null: a corrupt HDF5 file makes libhdf5 ask malloc for terabytes, which it
# survives when malloc returns NULL (the fuzz replays hold such files); ASan would abort instead.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0:abort_on_error=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp}
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$supp/tsan.supp:halt_on_error=1:second_deadlock_stack=1}
export OMP_NUM_THREADS=1
cd "$build"
start=$(date +%s)
status=0
if (($# > 0)); then
  ctest --output-on-failure -j "$jobs" --timeout 1800 "$@" || status=$?
else
  # modelgrow_add_gtest_suites leaves, per program, an include file naming the program and the
  # folder ctest runs it in.
  logs=$build/sanitize-logs
  rm -rf "$logs" && mkdir -p "$logs"
  grep -rl --include='*_include.cmake' 'GTestSuites.cmake' "$build" | sort | xargs sed -n \
      -e 's/^set(program \[==\[\(.*\)\]==\])$/\1/p' \
      -e 's/^set(working_dir \[==\[\(.*\)\]==\])$/\1/p' | paste - - |
    grep -E "${SANITIZE_PROGRAMS:-.}" >"$logs/programs"
  run_program() {  # program working-dir
    local name=$(basename "$1") log rc=0 begin=$(date +%s)
    log=$LOGS/$name.log
    (cd "$2" && timeout 3600 "$1" --gtest_filter="$FILTER") >"$log" 2>&1 || rc=$?
    printf '%-5s %-44s %5d s  %s\n' "$( ((rc == 0)) && echo ok || echo FAIL)" "$name" \
      "$(($(date +%s) - begin))" "$(grep -E '^\[  (PASSED|FAILED)  \]' "$log" | tr '\n' ' ')"
  }
  export -f run_program
  LOGS=$logs FILTER="$selected$sentencepiece_filter" xargs -P "$jobs" -L 1 \
    bash -c 'run_program "$0" "$1"' <"$logs/programs" | tee "$logs/summary"
  echo "$(wc -l <"$logs/programs") programs, $(grep -c '^FAIL' "$logs/summary") failed"
  grep -q '^FAIL' "$logs/summary" && status=1
  # The rest of the suite is not GoogleTest: the fuzz inputs' replays and the manifests' checks.
  if [[ $kind == address ]]; then
    ctest --output-on-failure -j "$jobs" --timeout 1800 -R '^(Fuzz\..*\.Replay|ShippedManifest\.)' \
      || status=$?
  fi
fi
echo "sanitize $kind: tests took $(($(date +%s) - start)) s (exit $status)"
exit $status
