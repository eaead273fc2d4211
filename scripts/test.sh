#!/usr/bin/env bash
# Sets everything up and runs crmqa's own tests (unit, end-to-end through the real sandbox,
# real Chromium, a real BottleCRM and a real Django CRM). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Some machines set PYTHONDONTWRITEBYTECODE: then every process compiles crmqa again (about
# 0.6 s each, in every xdist worker and every `crmqa` a test starts). Keep bytecode, as an
# installed package has it.
unset PYTHONDONTWRITEBYTECODE
# BottleCRM's and Django CRM's installed venvs and template databases (minutes to build)
# outlive clones.
export CRMQA_BOTTLECRM_CACHE="${CRMQA_BOTTLECRM_CACHE:-$HOME/.cache/crmqa/bottlecrm}"
export CRMQA_DJANGOCRM_CACHE="${CRMQA_DJANGOCRM_CACHE:-$HOME/.cache/crmqa/djangocrm}"
echo "[test] ruff and mypy"
.venv/bin/ruff check .
.venv/bin/mypy crmqa
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
