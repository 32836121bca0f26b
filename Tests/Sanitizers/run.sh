#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer, in release (numeric Swift in debug is 20–100× slower):
#
#   bash Tests/Sanitizers/run.sh address    # AddressSanitizer + LeakSanitizer (about 3 minutes on 2 cores)
#   bash Tests/Sanitizers/run.sh thread     # ThreadSanitizer
#
# Each sanitizer builds into its own scratch directory (.build/asan, .build/tsan). The `dwbench` binary the
# CLI tests start is built with the same sanitizer and inherits the options below; any report fails the run
# (halt_on_error / exitcode), and a child's report fails the test that started it.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind="${1:-address}"
case "$kind" in
    address)
        export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0"
        export LSAN_OPTIONS="suppressions=$PWD/Tests/Sanitizers/lsan.supp:print_suppressions=0"
        scratch=.build/asan ;;
    thread)
        export TSAN_OPTIONS="halt_on_error=1:suppressions=$PWD/Tests/Sanitizers/tsan.supp"
        scratch=.build/tsan ;;
    *) echo "run.sh: sanitizer must be address or thread, got '$kind'" >&2; exit 2 ;;
esac
# The Swift runtime's backtracer would catch a sanitizer's fatal signal first; let the sanitizer report.
export SWIFT_BACKTRACE=enable=no
swift test -c release --sanitize="$kind" --scratch-path "$scratch" --disable-swift-testing "${@:2}"
