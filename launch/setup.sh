#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv with the newest Python >= 3.11 found.
#   bash launch/setup.sh            # venv + jaxcnn[test]
#   bash launch/setup.sh --data     # ... and Debian's Fashion-MNIST files, for offline training
#   bash launch/setup.sh --bytecode # ... and the packages' bytecode compiled once (for runs that start many Pythons)
#   JAXCNN_ACCELERATOR=cuda12 bash launch/setup.sh   # GPU wheels: jax[cuda12] (or cuda13, tpu)
# Re-running is cheap: dependencies are reinstalled only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_data=0
want_bytecode=0
for arg in "$@"; do
  case "$arg" in
    --data) want_data=1 ;;
    --bytecode) want_bytecode=1 ;;
    *) echo "setup.sh: unknown option '$arg' (use --data, --bytecode)" >&2; exit 2 ;;
  esac
done

# Newest Python >= 3.11 on PATH or under pyenv: newer Pythons get the current JAX release.
find_python() {
  local best="" best_ver=0 cand ver
  local cands=(python3.14 python3.13 python3.12 python3.11 python3)
  if command -v pyenv >/dev/null 2>&1; then
    for p in "$(pyenv root)"/versions/*/bin/python3; do [ -x "$p" ] && cands+=("$p"); done
  fi
  for cand in "${cands[@]}"; do
    command -v "$cand" >/dev/null 2>&1 || continue
    ver=$("$cand" -c 'import sys, venv, ensurepip; print(sys.version_info[0]*100 + sys.version_info[1])' 2>/dev/null) || continue
    if [ "$ver" -ge 311 ] && [ "$ver" -gt "$best_ver" ]; then best=$(command -v "$cand"); best_ver=$ver; fi
  done
  [ -n "$best" ] || { echo "setup.sh: no Python >= 3.11 with venv found; install one (e.g. apt-get install python3-venv)" >&2; exit 1; }
  echo "$best"
}

if [ -n "${JAXCNN_PYTHON:-}" ]; then python_bin=$JAXCNN_PYTHON; else python_bin=$(find_python); fi
stamp=.venv/.jaxcnn-installed
accelerator=${JAXCNN_ACCELERATOR:-cpu}
case "$accelerator" in
  cpu|cuda12|cuda13|tpu) ;;
  *) echo "setup.sh: JAXCNN_ACCELERATOR=$accelerator is not one of cpu, cuda12, cuda13, tpu" >&2; exit 2 ;;
esac
want_stamp="$("$python_bin" -c 'import sys; print(sys.version.split()[0])') $(sha256sum pyproject.toml | cut -c1-16) $accelerator"
python_version=$("$python_bin" -c 'import sys; print(sys.version.split()[0])')
if [ -x .venv/bin/python ] && [ "$(.venv/bin/python -c 'import sys; print(sys.version.split()[0])')" != "$python_version" ]; then
  echo "setup: .venv uses another Python; recreating it with $python_bin ($python_version)"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  echo "setup: installing jaxcnn and its dependencies into .venv ($want_stamp)"
  [ -x .venv/bin/python ] || "$python_bin" -m venv .venv
  # uv installs the same packages from PyPI several times faster than pip (about 15 s instead of 55 s with a
  # warm cache); pip does it where uv cannot be installed.
  if .venv/bin/python -m pip install --quiet uv 2>/dev/null && [ -x .venv/bin/uv ]; then
    install() { .venv/bin/uv pip install --quiet --python .venv/bin/python "$@"; }
  else
    .venv/bin/python -m pip install --quiet --upgrade pip
    install() { .venv/bin/python -m pip install --quiet "$@"; }
  fi
  install -e ".[test]"
  if [ "$accelerator" != cpu ]; then install "jax[$accelerator]"; fi
  echo "$want_stamp" > "$stamp"
else
  echo "setup: .venv is up to date ($want_stamp)"
fi
# uv installs without bytecode, and where PYTHONDONTWRITEBYTECODE is set no Python ever writes it: every process
# then compiles TensorFlow's and JAX's sources again on import (25 s of CPU instead of 8 on a 2-core VM, in each
# of the test suite's dozens of subprocesses). Compiled once here, the caches are read even with that variable set.
# Only on request (--bytecode, the test suite's): compiling everything takes 50-80 s, more than the one Python start
# of a training run saves.
bytecode_stamp=.venv/.jaxcnn-bytecode
if [ "$want_bytecode" = 1 ] && [ -n "${PYTHONDONTWRITEBYTECODE:-}" ] && [ "$(cat "$bytecode_stamp" 2>/dev/null)" != "$want_stamp" ]; then
  echo "setup: compiling the installed packages' bytecode (once, about a minute)"
  site_packages=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  .venv/bin/python -m compileall -q -j 0 "$site_packages" >/dev/null 2>&1 || true  # a vendored Python-2 file may fail
  echo "$want_stamp" > "$bytecode_stamp"
fi

if [ "$want_data" = 1 ]; then
  fmnist=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
  if [ ! -f "$fmnist" ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing Debian's dataset-fashion-mnist (the original Fashion-MNIST files)"
      apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo apt-get update -qq >/dev/null && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
      echo "setup: Debian's dataset-fashion-mnist is not installed and this user cannot install it;"
      echo "       training will download Fashion-MNIST through TFDS instead (needs internet)."
    fi
  fi
fi
