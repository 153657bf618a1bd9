#!/usr/bin/env bash
# README command 2 (and CI): set everything up, then run the test suite. Extra arguments go to pytest,
# e.g. `bash launch/test.sh -m slow` for the slow end-to-end runs, `bash launch/test.sh tests/data`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh --data --bytecode
exec .venv/bin/python -m pytest "$@"
