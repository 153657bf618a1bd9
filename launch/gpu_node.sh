#!/usr/bin/env bash
# One node with several NVIDIA GPUs: one process drives all of them (jit over a mesh of every GPU, or
# --parallel=pmap). Restrict the GPUs with CUDA_VISIBLE_DEVICES=0,1,2,3.
#   bash launch/gpu_node.sh experiments.cifar --flagfile=launch/flags/cifar10_resnet18_gpu8.flags --workdir=workdirs/c10_gpu8
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh
usage_and_module "bash launch/gpu_node.sh experiments.<name> --workdir=<dir> [--flagfile=...] [flags...]" "$@"
command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: this script is for a node with NVIDIA GPUs (use launch/local.sh elsewhere)"
nvidia-smi -L >/dev/null 2>&1 || die "nvidia-smi lists no GPU (driver not loaded, or CUDA_VISIBLE_DEVICES hides them all)"
require_venv
require_platform gpu cuda12
shift
exec .venv/bin/python -m "$module" "$@"
