# Shared by the launch scripts (sourced, not run): argument and environment checks with one-line errors.
# Each script differs only in how it starts the processes; all of them run
#   .venv/bin/python -m <experiment module> <flags...>
# from the repository root, e.g. experiments.cifar --flagfile=launch/flags/cifar10_resnet18_gpu8.flags --workdir=...

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# usage_and_module <usage line> "$@": checks the first argument names an experiment module, sets $module.
usage_and_module() {
  local usage=$1; shift
  [ $# -ge 1 ] || die "usage: $usage"
  module=$1
  case "$module" in
    experiments.*) [ -f "${module//.//}.py" ] || die "no experiment module $module (have: $(ls experiments/*.py | grep -v __init__ | sed 's|/|.|; s|\.py$||' | tr '\n' ' '))" ;;
    *) die "first argument must be an experiment module such as experiments.cifar, got '$module' (usage: $usage)" ;;
  esac
  case " $* " in *" --workdir="*) ;; *) die "--workdir=<dir> is required (checkpoints and metrics go there; rerun to resume)" ;; esac
}

# require_env VAR "what it is": a one-line error when VAR is unset or empty.
require_env() {
  [ -n "${!1:-}" ] || die "\$$1 is not set: $2"
}

require_venv() {
  [ -x .venv/bin/python ] || die ".venv is missing: run 'bash launch/setup.sh' first (JAXCNN_ACCELERATOR=cuda12|cuda13|tpu for accelerators)"
}

# require_platform gpu|tpu: JAX in .venv must see that kind of device.
require_platform() {
  local seen
  seen=$(.venv/bin/python -c 'import jax; print(jax.devices()[0].platform, jax.local_device_count())' 2>/dev/null) \
    || die "JAX in .venv failed to start; run '.venv/bin/python -c \"import jax; print(jax.devices())\"' to see why"
  [ "${seen%% *}" = "$1" ] || die "JAX sees '${seen}' (platform, devices), not $1: install the $1 wheels with JAXCNN_ACCELERATOR=$2 bash launch/setup.sh"
  echo "$(basename "$0"): JAX sees ${seen#* } local $1 device(s)"
}
