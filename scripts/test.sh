#!/usr/bin/env bash
# Sets everything up and runs crmqa's own tests (unit, end-to-end through the real sandbox,
# real Chromium and a real BottleCRM). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# BottleCRM's installed venv and migrated template database (minutes to build) outlive clones.
export CRMQA_BOTTLECRM_CACHE="${CRMQA_BOTTLECRM_CACHE:-$HOME/.cache/crmqa/bottlecrm}"
echo "[test] ruff and mypy"
.venv/bin/ruff check .
.venv/bin/mypy crmqa
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
