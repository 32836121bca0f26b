#!/usr/bin/env bash
# Whole-model results: RepLKNet-31B at 224², batch 1 and 8, 1 and 2 threads — the peers (ONNX Runtime,
# OpenVINO, and PyTorch eager at batch 1) measured right before dwbench, per setting. Writes Results/replknet-*.{md,json,svg},
# Results/peers-replknet31b-*.json and the model plans Results/plan-replknet31b-model-*.json (tuned on first use).
#   bash Benchmarks/replknet_results.sh            (release build needed; the peers create their venv on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
B=.build/release/dwbench
for T in 1 2; do
  for N in 1 8; do
    engines=onnxruntime,openvino,pytorch
    [ "$N" = 1 ] || engines=onnxruntime,openvino
    python3 Benchmarks/peers/run_replknet_peers.py --threads "$T" --batch "$N" --engines "$engines" \
      --output "Results/peers-replknet31b-${T}t-b${N}.json"
    $B replknet --config 31B --threads "$T" --batch "$N" --repeat 10 --plan "Results/plan-replknet31b-model-${T}t-b${N}.json" \
      --tune-budget 120 --report Results --peers "Results/peers-replknet31b-${T}t-b${N}.json" > /dev/null
  done
done
