#!/usr/bin/env bash
# Builds the test suite with sanitizers in its own build folder and runs it.
#   scripts/sanitize.sh address [ctest args...]   ASan + UBSan (build-asan/), default: -L unit
#   scripts/sanitize.sh thread  [ctest args...]   TSan (build-tsan/), default: the data loader's
#                                                 worker threads, export and the text cache
# Environment: JOBS (default nproc), SANITIZE_BUILD_DIR, CC/CXX (default: the system compiler),
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
sentencepiece_tests='^(Tokenizer|TinyModels|TinyModelOptions|LlmPlugin|T5Plugin|TextCli|Generation|ModelTokenizer|PromptFormat)\.'
case $kind in
  address) suffix=asan default_tests=(-L unit -E "$sentencepiece_tests") ;;
  thread) suffix=tsan default_tests=(-R "Loader|Export|TextCache|TextEncoderCache|DataLoader"
                                      -E "$sentencepiece_tests") ;;
  *) echo "usage: scripts/sanitize.sh address|thread [ctest args...]" >&2; exit 2 ;;
esac
shift
build=${SANITIZE_BUILD_DIR:-$root/build-$suffix}
jobs=${JOBS:-$(nproc)}
BUILD_DIR=$build JOBS=$jobs BUILD_TARGETS=${SANITIZE_TARGETS:-} "$root/scripts/build.sh" \
  -DMODELGROW_SANITIZE="$kind"

supp=$root/scripts/sanitizers
# Plugins and the CLI are started by tests as child processes and inherit these.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp}
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$supp/tsan.supp:halt_on_error=1:second_deadlock_stack=1}
export OMP_NUM_THREADS=1
cd "$build"
tests=("$@")
((${#tests[@]} > 0)) || tests=("${default_tests[@]}")
start=$(date +%s)
status=0
ctest --output-on-failure -j "$jobs" --timeout 1800 "${tests[@]}" || status=$?
echo "sanitize $kind: tests took $(($(date +%s) - start)) s (exit $status)"
exit $status
