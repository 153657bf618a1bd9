#!/usr/bin/env bash
# A Cloud TPU VM slice (single- or multi-host), run from your workstation: the same command starts on every
# worker (--worker=all) and jax.distributed.initialize() (--multihost) joins them. The repository must be
# at $JAXCNN_REMOTE_DIR on every worker; `--setup` first creates its .venv there with TPU wheels.
#   TPU_NAME=my-v4-32 TPU_ZONE=us-central2-b JAXCNN_REMOTE_DIR=~/jaxcnn \
#     bash launch/tpu_vm.sh experiments.cifar --flagfile=launch/flags/cifar10_resnet18_tpu_pod.flags --workdir=gs://bucket/c10
#   TPU_NAME=... TPU_ZONE=... JAXCNN_REMOTE_DIR=... bash launch/tpu_vm.sh --setup
# --workdir must be shared by the workers (a gs:// bucket or an NFS mount): all of them write checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh
command -v gcloud >/dev/null 2>&1 || die "gcloud not found: install the Google Cloud CLI and 'gcloud auth login'"
require_env TPU_NAME "the TPU VM's name (gcloud compute tpus tpu-vm list)"
require_env TPU_ZONE "the TPU VM's zone, e.g. us-central2-b"
require_env JAXCNN_REMOTE_DIR "the repository's path on the TPU workers, e.g. ~/jaxcnn"
project=()
[ -n "${TPU_PROJECT:-}" ] && project=(--project="$TPU_PROJECT")
remote() {
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$TPU_ZONE" "${project[@]}" --worker=all --command="$1"
}
if [ "${1:-}" = "--setup" ]; then
  remote "cd $JAXCNN_REMOTE_DIR && JAXCNN_ACCELERATOR=tpu bash launch/setup.sh"
  exit
fi
usage_and_module "bash launch/tpu_vm.sh experiments.<name> --workdir=<shared dir> [--flagfile=...] [flags...]  (or --setup)" "$@"
shift
args=$(printf ' %q' "$@")
remote "cd $JAXCNN_REMOTE_DIR && .venv/bin/python -m $module --multihost$args"
