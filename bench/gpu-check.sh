#!/usr/bin/env bash
# The GPU path of the validator (issue 3 part 8), for a session or CI job that has an NVIDIA GPU:
#   bash bench/gpu-check.sh
# Prints the GPU, validates a generated model with the execution providers cuda,cpu (the report's
# executionProvider, per-provider node counts and gpuBytes), then nvidia-smi again. Record its output in
# BENCHMARKS.md, "Validation (issue 3)". Exit status 1 if CUDA did not run the model.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv

# onnxruntime-node's CUDA 12 provider libraries are not in its npm package: its install script fetches
# them from NuGet (.npmrc skips that in development). This needs network access; on a machine without
# it, copy node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_*.so from the
# validator image (gpu-validator/Dockerfile) first.
LIBS=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
if [ ! -f "$LIBS/libonnxruntime_providers_cuda.so" ]; then
  echo "== installing the CUDA 12 provider of onnxruntime-node"
  ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node
fi
ls -l "$LIBS"

echo "== build"
npx tsc -p tsconfig.build.json

echo "== validate with cuda,cpu"
npx tsx bench/lib/validate-gpu-check.ts

echo "== nvidia-smi after"
nvidia-smi
