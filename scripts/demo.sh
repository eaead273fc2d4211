#!/usr/bin/env bash
# Sets everything up, starts the sandbox CRM, runs plans/sandbox.yaml against it, writes the
# reports under reports/<run-id>/ and prints the verdict. The exit code is the verdict's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/crmqa demo "$@"
