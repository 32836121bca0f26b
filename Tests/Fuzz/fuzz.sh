#!/usr/bin/env bash
# Fuzzes every input format dwbench reads, with libFuzzer + AddressSanitizer.
#
#   bash Tests/Fuzz/fuzz.sh [--seconds S] [--jobs J] [--record FILE.md] [target ...]
#
# Targets (default: all): npy safetensors plan shapes baseline pickle zip plannumbers (bodies: Tests/Fuzz/Bodies/*Body.swift).
# Each target runs S seconds (default 600) starting from a work corpus seeded with Tests/Fuzz/corpus/<target>
# and guided by Tests/Fuzz/dict/<target>.dict. J targets run at once (default 1; the second core of a
# shared machine is noisy, and executions per second are reported per target anyway).
#
# Limits, so that the fuzzer reports them as findings:
#   -max_len=65536        inputs up to 64 KiB
#   -timeout=10           an input that takes more than 10 s is a hang
#   -malloc_limit_mb=256  one allocation above 256 MiB from a ≤ 64 KiB input is an over-allocation
#   -rss_limit_mb=2048    so is a process that grows beyond 2 GiB
# Crashing inputs land in .build/fuzz/findings/<target>/; once fixed, copy each to
# Tests/Fuzz/regressions/<target>/<what-it-broke> so that the test suite replays it for ever.
# Logs: .build/fuzz/logs/<target>.log. With --record, appends a Markdown table of the runs to FILE.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=600
jobs=1
record=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --record) record="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
all=(npy safetensors plan shapes baseline pickle zip plannumbers)
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (targets: ${all[*]})" >&2; exit 2; }
done

work=.build/fuzz
bin="$work/bin"
mkdir -p "$bin" "$work/logs"

# 1. The libraries and the bodies, instrumented for coverage and AddressSanitizer.
# (One combined flag: given as two, swiftc keeps only the last -sanitize= and the coverage is lost.)
swift build -c release -Xswiftc -sanitize=fuzzer,address --target DWFuzzBodies --scratch-path "$work" >&2

# 2. The entry point, linked once and hard-linked under each target's name (the name picks the body).
objects=()
for m in DWBF16 DWCore DWKernels DWTune DWModel DWBench DWImageDecode DWFuzzBodies; do objects+=("$work"/release/$m.build/*.o); done
includes=()
for c in CNuma CSpin COpenBLAS CDNNL; do includes+=(-I "Sources/$c"); done
for m in DWImageDecode DWBF16; do includes+=(-Xcc "-fmodule-map-file=$work/release/$m.build/module.modulemap"); done
for f in $(pkg-config --cflags openblas); do includes+=(-Xcc "$f"); done
# (gold warns once per ASan helper symbol that it cannot export; the log keeps them, the terminal does not.)
if ! swiftc -O -parse-as-library -sanitize=fuzzer,address -target-cpu native \
    -I "$work/release/Modules" "${includes[@]}" \
    Tests/Fuzz/Entry/FuzzEntry.swift "${objects[@]}" \
    $(pkg-config --libs openblas) -lnuma -ldnnl -ljpeg -lpng16 -o "$bin/fuzz-entry" > "$work/logs/link.log" 2>&1; then
    grep -v "Cannot export local symbol" "$work/logs/link.log" >&2
    exit 1
fi
for t in "${all[@]}"; do ln -f "$bin/fuzz-entry" "$bin/fuzz-$t"; done

# 3. The runs.
run_one() {
    local t="$1"
    local corpus="$work/corpus/$t" findings="$work/findings/$t" log="$work/logs/$t.log"
    mkdir -p "$corpus" "$findings"
    cp -n Tests/Fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
    local dict=()
    [ -f "Tests/Fuzz/dict/$t.dict" ] && dict=(-dict="Tests/Fuzz/dict/$t.dict")
    local start
    start=$(date +%s)
    set +e
    # The Swift runtime's own crash backtracer would race libFuzzer's handler (and trip ASan); libFuzzer reports.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 \
    "$bin/fuzz-$t" "$corpus" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
        -malloc_limit_mb=256 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
        -close_fd_mask=1 > "$log" 2>&1
    local status=$?
    set -e
    echo "$t $status $(( $(date +%s) - start ))" > "$work/logs/$t.status"
    echo "fuzz-$t: exit $status after $(( $(date +%s) - start )) s (log $log)" >&2
}
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

# 4. Summary (and the Markdown record).
table="| target | seconds | executions | exec/s | edges covered | features | corpus | findings | exit |
|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
    log="$work/logs/$t.log"
    read -r _ status secs < "$work/logs/$t.status"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<< "$last")
    corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<< "$last")
    found=$(find "$work/findings/$t" -type f | wc -l)
    table+="
| $t | $secs | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $found | $status |"
done
echo "$table"
if [ -n "$record" ]; then
    { echo; echo "### $(date -u +%Y-%m-%dT%H:%MZ), $seconds s per target, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"; echo; echo "$table"; } >> "$record"
fi
