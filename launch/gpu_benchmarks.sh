#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md in one command, on a fresh machine with NVIDIA GPUs:
#   bash launch/gpu_benchmarks.sh
# 1. installs .venv with the GPU wheels (JAXCNN_ACCELERATOR, default cuda12; see launch/setup.sh);
# 2. checks that JAX sees the GPUs;
# 3. ResNet-50 at 224x224, bf16 compute, float32 parameters: train and eval img/s per device
#    (benchmarks/resnet50_throughput.py; extra flags in $RESNET50_FLAGS, e.g. "--per_device_batch=128");
# 4. airbench94 on CIFAR-10 ($AIRBENCH_RUNS runs, default 10, seeds 0..): each run's accuracy and training
#    seconds excluding compilation, as airbench times itself, and their mean: the time to 94%
#    (CIFAR-10 must be prepared in TFDS under $TFDS_DATA_DIR or ~/tensorflow_datasets, or its extracted files be
#    in $CIFAR10_DIR; otherwise one line says so and the ResNet-50 figures are still written).
# Everything printed also goes to benchmarks/gpu_results_<UTC time>_<host>.md (a new file each time, never
# overwritten), ready to paste into benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh

accelerator=${JAXCNN_ACCELERATOR:-cuda12}
runs=${AIRBENCH_RUNS:-10}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "AIRBENCH_RUNS=$runs: give a positive number of airbench94 runs"
command -v nvidia-smi >/dev/null 2>&1 \
  || die "nvidia-smi not found: this script measures NVIDIA GPUs (on a CPU run benchmarks/resnet50_throughput.py)"
nvidia-smi -L >/dev/null 2>&1 \
  || die "nvidia-smi lists no GPU (driver not loaded, or CUDA_VISIBLE_DEVICES hides them all)"

JAXCNN_ACCELERATOR=$accelerator bash launch/setup.sh
require_platform gpu "$accelerator"

out="benchmarks/gpu_results_$(date -u +%Y%m%dT%H%M%SZ)_$(hostname -s).md"
(set -o noclobber; : > "$out") 2>/dev/null || die "$out already exists; not overwriting it (run again in a second)"
log() { echo "$*" | tee -a "$out"; }
status=0

log "## GPU benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname -s)"
log ""
gpus=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sort | uniq -c | sed 's/^ *//')
versions=$(.venv/bin/python -c 'import jax, jaxlib; print(jax.__version__, "/ jaxlib", jaxlib.__version__)')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + local changes')
log "- GPUs (count, name, memory, driver): $(echo "$gpus" | paste -sd ';')"
log "- JAX $versions, jaxcnn commit $commit"
log "- load before: $(cut -d' ' -f1-3 /proc/loadavg), CPU cores: $(nproc)"
log ""
log "### ResNet-50 train and eval img/s: bf16 compute, float32 parameters, SGD Nesterov, synthetic batches on device"
log ""
resnet_cmd=".venv/bin/python benchmarks/resnet50_throughput.py --dtypes=bfloat16 ${RESNET50_FLAGS:-}"
log "\`$resnet_cmd\`"
log ""
# shellcheck disable=SC2086  # RESNET50_FLAGS is a list of flags
$resnet_cmd | tee -a "$out" || { status=1; log "ResNet-50 benchmark FAILED; its error is above"; }
log ""
log "### airbench94, CIFAR-10, time to 94% (training seconds excluding compilation, as airbench times itself)"
log ""

data_dir=${CIFAR10_DIR:-${TFDS_DATA_DIR:-$HOME/tensorflow_datasets}}
ready=0  # 0: CIFAR-10's own files or a prepared TFDS cifar10 are there; 3: neither; else the check failed
.venv/bin/python -c 'import sys
from jaxcnn.data import local_files, tfds_source
where = sys.argv[1]
found = local_files.find_cifar_dir("cifar10", where) or tfds_source.builder("cifar10", where).is_prepared()
sys.exit(0 if found else 3)' "$data_dir" || ready=$?
[ "$ready" = 0 ] || [ "$ready" = 3 ] || die "could not look for CIFAR-10 in $data_dir (the error is above)"
if [ "$ready" = 3 ]; then
  log "airbench94 skipped: CIFAR-10 is not prepared in TFDS at $data_dir (prepare it there with" \
      "tfds.builder('cifar10', data_dir=...).download_and_prepare(), or set CIFAR10_DIR to its extracted files)"
  exit "$status"
fi
log "\`.venv/bin/python -m jaxcnn.recipes.airbench94 --data_dir=$data_dir --seed=S\`, S = 0..$((runs - 1))"
log ""
log '```'
for seed in $(seq 0 $((runs - 1))); do
  .venv/bin/python -m jaxcnn.recipes.airbench94 --data_dir="$data_dir" --seed="$seed" | tail -n 1 \
    | sed "s/^/seed $seed: /" | tee -a "$out" || { status=1; log "seed $seed: airbench94 FAILED"; }
done
log '```'
# "seed S: test accuracy A%, with TTA level 2 T%; N steps in S s (excluding compilation), TTA ..." -> T and S
summary=$(grep '^seed ' "$out" | awk -F'TTA level 2 |%; |steps in | s ' '
  /TTA level 2/ {n++; acc += $2; s += $4; if ($2 >= 94) hit++}
  END {if (!n) exit
       printf "%d runs: mean TTA accuracy %.2f%% (%d at >= 94%%), mean training time %.2f s: ", n, acc / n, hit, s / n
       if (acc / n >= 94) printf "time to 94%%: %.2f s", s / n; else printf "mean below 94%%, no time to 94%%"}')
log ""
log "${summary:-no airbench94 run finished}"
log ""
log "Written to $out"
exit "$status"
