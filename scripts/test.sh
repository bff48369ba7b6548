#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), then lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy domain parser checks monitor sandbox crawler storage notifier dashboard workers
# the storage tests also run against this server; without it they say so and are skipped
export NIANBAO_TEST_POSTGRES_URL=${NIANBAO_TEST_POSTGRES_URL:-postgresql+psycopg://nianbao:nianbao@127.0.0.1:5432/postgres}
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
