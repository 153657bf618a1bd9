#!/usr/bin/env bash
# README command 1: set everything up, then train TinyVGG on real Fashion-MNIST, offline (about 93% test accuracy).
# Rerunning resumes from the last checkpoint in the workdir; extra arguments go to the experiment, e.g.
#   bash launch/quickstart.sh --workdir=workdirs/other_run --epochs=3
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh --data
exec .venv/bin/python -m experiments.mnist \
  --flagfile=launch/flags/fashion_mnist_tiny_vgg.flags \
  --workdir=workdirs/fashion_mnist_tiny_vgg "$@"
