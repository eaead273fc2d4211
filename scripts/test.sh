#!/usr/bin/env bash
# Sets everything up and runs crmqa's own tests (unit, end-to-end through the real sandbox,
# real Chromium and a real BottleCRM). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
