#!/usr/bin/env bash
# One machine, one process, every local device (CPU, one or more GPUs, or a single-host TPU VM).
#   bash launch/local.sh experiments.mnist --flagfile=launch/flags/fashion_mnist_tiny_vgg.flags --workdir=workdirs/fm
# Try data parallelism without accelerators: JAXCNN_CPU_DEVICES=8 splits the CPU into 8 XLA devices
#   JAXCNN_CPU_DEVICES=8 bash launch/local.sh experiments.mnist --batch_size=128 --workdir=workdirs/fm8
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh
usage_and_module "bash launch/local.sh experiments.<name> --workdir=<dir> [--flagfile=...] [flags...]" "$@"
require_venv
if [ -n "${JAXCNN_CPU_DEVICES:-}" ]; then
  [[ "$JAXCNN_CPU_DEVICES" =~ ^[1-9][0-9]*$ ]] || die "JAXCNN_CPU_DEVICES must be a positive integer, got '$JAXCNN_CPU_DEVICES'"
  export JAX_PLATFORMS=cpu XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=$JAXCNN_CPU_DEVICES"
fi
shift
exec .venv/bin/python -m "$module" "$@"
