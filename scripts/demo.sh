#!/usr/bin/env bash
# Sets everything up, starts the sandbox CRM, runs plans/sandbox.yaml against it, writes the
# reports under reports/<run-id>/ and prints the verdict. The exit code is the verdict's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Some machines set PYTHONDONTWRITEBYTECODE: then every process compiles crmqa again (about
# 0.6 s each, in every xdist worker and every `crmqa` a test starts). Keep bytecode, as an
# installed package has it.
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/crmqa demo "$@"
