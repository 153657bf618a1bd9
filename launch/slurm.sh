#!/usr/bin/env bash
# Several nodes under SLURM: srun starts one process per node, each driving all of its node's GPUs;
# jax.distributed.initialize() (--multihost) finds the others through SLURM's variables. Run it inside
# an allocation, e.g. from an sbatch script:
#   #SBATCH --nodes=2 --ntasks-per-node=1 --gpus-per-node=8 --exclusive
#   bash launch/slurm.sh experiments.cifar --flagfile=launch/flags/cifar100_wrn28_10_multinode.flags --workdir=$SCRATCH/c100
# --workdir must be on a filesystem every node sees: all processes write checkpoints there (orbax).
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh
usage_and_module "bash launch/slurm.sh experiments.<name> --workdir=<shared dir> [--flagfile=...] [flags...]" "$@"
command -v srun >/dev/null 2>&1 || die "srun not found: run this on a SLURM cluster"
require_env SLURM_JOB_ID "run inside an allocation (sbatch or salloc --nodes=N --ntasks-per-node=1 --gpus-per-node=G)"
require_env SLURM_JOB_NUM_NODES "SLURM did not report the allocation's node count"
require_venv
shift
echo "slurm.sh: starting one process on each of $SLURM_JOB_NUM_NODES node(s) of job $SLURM_JOB_ID"
exec srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --kill-on-bad-exit=1 \
  .venv/bin/python -m "$module" --multihost "$@"
