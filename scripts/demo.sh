#!/usr/bin/env bash
# The monitor, offline: set-up (idempotent, as for the tests), then `nianbao run --demo` against the bundled
# sandbox sites with alerts printed on the console. Extra arguments go to `nianbao run`. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/nianbao run --demo "$@"
