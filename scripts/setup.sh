#!/usr/bin/env bash
# Installs everything nianbao-watch needs on Debian 12 (run as root): system packages and a virtualenv
# with the project and its development tools in .venv/. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  python3-venv
  tesseract-ocr tesseract-ocr-chi-sim   # OCR of scanned reports
  libreoffice-writer-nogui              # converts legacy .doc files (and renders test .doc fixtures)
  fonts-wqy-zenhei                      # a CJK font for generated PDFs and scans
  poppler-utils
  postgresql                            # the storage tests run on PostgreSQL as well as SQLite
  chromium                              # the browser for JavaScript sites (never a downloaded one)
)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to apt-get install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A local PostgreSQL for the tests: the Debian cluster, started, with a role that may create databases.
if [ "$(id -u)" -eq 0 ] && command -v pg_lsclusters >/dev/null; then
  if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -1)" main >/dev/null
  fi
  read -r pg_version pg_cluster _ < <(pg_lsclusters -h | head -1)
  pg_ctlcluster "$pg_version" "$pg_cluster" start 2>/dev/null || true
  for _ in $(seq 1 30); do
    runuser -u postgres -- psql -qtAc "select 1" >/dev/null 2>&1 && break
    sleep 1
  done
  runuser -u postgres -- psql -qtAc "select 1 from pg_roles where rolname='nianbao'" | grep -q 1 ||
    runuser -u postgres -- psql -qc "create role nianbao login createdb password 'nianbao'" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# quiet: the build backend's notices go to a log, shown only when the installation fails
pip_log=.venv/pip-install.log
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[dev]'; } \
    >"$pip_log" 2>&1; then
  cat "$pip_log" >&2
  echo "setup: pip install failed (log above, also in $pip_log)" >&2
  exit 1
fi
