#!/usr/bin/env bash
# Runs the regression gate N times on an unchanged build against the committed baseline and records how far
# each kernel's median ratio moved and whether any run raised an alarm: Results/check-false-alarms.md.
#   bash Benchmarks/check_record.sh [N=10]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
B=.build/release/dwbench
tmp=$(mktemp -d)
passed=0
for i in $(seq 1 "$N"); do
  if $B check --baseline Results/check-baseline-1t.json > "$tmp/run$i.txt" 2>/dev/null; then passed=$((passed + 1)); fi
done
python3 - "$tmp" "$N" "$passed" <<'PY' > Results/check-false-alarms.md.tmp
import glob, re, sys
tmp, n, passed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
changes, verdicts = {}, {}
for i in range(1, n + 1):
    for line in open(f"{tmp}/run{i}.txt"):
        m = re.match(r"^(n\d+\S+)\s+(\S+)\s+[\d.]+\s+[\d.]+\s+([+-][\d.]+)%\s+([\d.]+)\s+(.*)$", line)
        if m:
            changes.setdefault((m.group(1), m.group(2)), []).append(float(m.group(3)))
            verdicts.setdefault((m.group(1), m.group(2)), []).append(m.group(5).strip())
print("# Regression gate: false alarms on an unchanged build\n")
print(f"`bash Benchmarks/check_record.sh {n}`: {n} consecutive runs of `dwbench check --baseline Results/check-baseline-1t.json`")
print(f"(tolerance 50%, one-sided Mann–Whitney p < 0.01, 1 thread) on the build that recorded the baseline. **{passed} of {n} runs passed.**\n")
print("| problem | algorithm | change of the median ratio: min | median | max | verdicts |")
print("|---|---|---|---|---|---|")
for (p, a), c in changes.items():
    s = sorted(c)
    v = ", ".join(sorted(set(verdicts[(p, a)])))
    print(f"| `{p}` | {a} | {s[0]:+.1f}% | {s[len(s)//2]:+.1f}% | {s[-1]:+.1f}% | {v} |")
PY
mv Results/check-false-alarms.md.tmp Results/check-false-alarms.md
echo "$passed of $N runs passed; wrote Results/check-false-alarms.md"
