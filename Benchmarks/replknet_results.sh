#!/usr/bin/env bash
# Whole-model results: RepLKNet-31B at 224², batch 1 and 8, 1 and 2 threads — the peers (ONNX Runtime,
# OpenVINO f32 and bf16, and PyTorch eager at batch 1) measured right before dwbench fp32 and bf16, per setting.
# Writes Results/replknet-31b[-bf16]-*.{md,json,svg}, Results/peers-replknet31b-*.json and the model plans
# Results/plan-replknet31b-model[-bf16]-*.json (tuned on first use), then the bf16 page (Results/bf16.md).
#   bash Benchmarks/replknet_results.sh            (release build needed; the peers create their venv on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
B=.build/release/dwbench
for T in 1 2; do
  for N in 1 8; do
    engines=onnxruntime,openvino,openvino-bf16,pytorch
    [ "$N" = 1 ] || engines=onnxruntime,openvino,openvino-bf16
    python3 Benchmarks/peers/run_replknet_peers.py --threads "$T" --batch "$N" --engines "$engines" \
      --output "Results/peers-replknet31b-${T}t-b${N}.json"
    $B replknet --config 31B --threads "$T" --batch "$N" --repeat 10 --plan "Results/plan-replknet31b-model-${T}t-b${N}.json" \
      --tune-budget 120 --report Results --peers "Results/peers-replknet31b-${T}t-b${N}.json" > /dev/null
    $B replknet --config 31B --threads "$T" --batch "$N" --repeat 10 --precision bf16 \
      --plan "Results/plan-replknet31b-model-bf16-${T}t-b${N}.json" \
      --tune-budget 120 --report Results --peers "Results/peers-replknet31b-${T}t-b${N}.json" > /dev/null
  done
done
python3 Benchmarks/bf16/page.py
