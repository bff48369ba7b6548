#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), then lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy parser checks monitor sandbox crawler storage notifier
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
