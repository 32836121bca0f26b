#!/usr/bin/env bash
# Regenerates Results/ (release build needed; about 20 minutes on 2 cores).
#   bash Benchmarks/regenerate_results.sh           everything except the Python peers (their committed JSON is reused)
#   bash Benchmarks/regenerate_results.sh --peers   the peers too (creates Benchmarks/peers/.venv on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
B=.build/release/dwbench
if [ "${1:-}" = "--peers" ]; then
  for T in 1 2; do
    python3 Benchmarks/peers/run_peers.py --shapes Benchmarks/shapes/headline.txt --threads "$T" --output "Results/peers-headline-${T}t.json"
  done
  bash Benchmarks/replknet_results.sh
fi
bash Benchmarks/tune_results.sh
python3 Benchmarks/asm/pointwise_asm.py "$B" > Results/pointwise-asm.md
$B check --baseline Results/check-baseline-1t.json --update > /dev/null
bash Benchmarks/check_record.sh 10
# Last, so that the index links everything above.
$B report --output Results --threads 1,2 --peers Results/peers-headline-1t.json --peers Results/peers-headline-2t.json
# The bf16 page again, now that report has measured machine.json (its bf16 peak).
python3 Benchmarks/bf16/page.py
