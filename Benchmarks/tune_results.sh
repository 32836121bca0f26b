#!/usr/bin/env bash
# Regenerates the committed tuning plans and their verification pages in Results/ (release build needed).
#   bash Benchmarks/tune_results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=.build/release/dwbench
timed() { local s; s=$(date +%s.%N); "$@"; python3 -c "print(round($(date +%s.%N) - $s, 1))"; }

t1=$(timed $B tune --shapes replknet31b --threads 1 --output Results/plan-replknet31b-1t.json 2>/dev/null)
t2=$(timed $B tune --shapes Benchmarks/shapes/sweep.txt --threads 1 --output Results/plan-sweep-1t.json 2>/dev/null)
# Estimate mode, calibrated on the measured RepLKNet-31B plan only (the sweep is never used to calibrate).
t3=$(timed $B tune --shapes replknet31b --threads 1 --mode estimate --calibration Results/plan-replknet31b-1t.json \
      --output Results/plan-replknet31b-1t-estimate.json 2>/dev/null)
t4=$(timed $B tune --shapes Benchmarks/shapes/sweep.txt --threads 1 --mode estimate --calibration Results/plan-replknet31b-1t.json \
      --output Results/plan-sweep-1t-estimate.json 2>/dev/null)
t5=$(timed $B tune --shapes replknet31b --threads 2 --output Results/plan-replknet31b-2t.json 2>/dev/null)
t6=$(timed $B tune --shapes replknet31b-pointwise --threads 1 --output Results/plan-replknet31b-pointwise-1t.json 2>/dev/null)
t7=$(timed $B tune --shapes replknet31b-pointwise --threads 2 --output Results/plan-replknet31b-pointwise-2t.json 2>/dev/null)
# The same 1×1 layers allowing bf16 (the .bf16 problems: gemm-bf16 and the fp32 algorithms compete).
bf16=$(awk '!/^#/ && NF { print $2 ".bf16" }' Benchmarks/shapes/replknet31b-pointwise.txt | paste -sd, -)
t8=$(timed $B tune --shapes "$bf16" --threads 1 --output Results/plan-replknet31b-pointwise-bf16-1t.json 2>/dev/null)
$B plan verify Results/plan-replknet31b-1t.json Results/plan-replknet31b-1t-estimate.json --tuning-seconds "$t1,$t3" \
   --output Results/tuning-replknet31b-1t.md 2>/dev/null
$B plan verify Results/plan-sweep-1t.json Results/plan-sweep-1t-estimate.json --tuning-seconds "$t2,$t4" \
   --output Results/tuning-sweep-1t.md 2>/dev/null
$B plan verify Results/plan-replknet31b-2t.json --tuning-seconds "$t5" --output Results/tuning-replknet31b-2t.md 2>/dev/null
$B plan verify Results/plan-replknet31b-pointwise-1t.json --tuning-seconds "$t6" --output Results/tuning-replknet31b-pointwise-1t.md 2>/dev/null
$B plan verify Results/plan-replknet31b-pointwise-bf16-1t.json --tuning-seconds "$t8" --output Results/tuning-replknet31b-pointwise-bf16-1t.md 2>/dev/null
echo "tuning seconds: pointwise 1T $t6, 2T $t7, bf16 1T $t8; replknet31b 1T $t1, sweep 1T $t2, estimates $t3 $t4, replknet31b 2T $t5"
