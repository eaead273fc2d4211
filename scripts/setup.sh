#!/usr/bin/env bash
# Installs everything crmqa needs on a fresh Debian machine, and nothing twice:
# Debian packages (Chromium, Node.js), a virtual environment with crmqa, and the npm tools
# (Allure 3 for HTML reports, axe-core for accessibility checks). Never downloads a browser
# build: Playwright drives Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core)
# CJK glyphs, so that screenshot evidence shows Chinese lead names instead of empty boxes
fc-list 2>/dev/null | grep -qi "wenquanyi micro" || missing+=(fonts-wqy-microhei)
# database servers the migration tests start throw-away instances of (legacy data in
# PostgreSQL and MySQL/MariaDB); crmqa itself only needs their Python drivers
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
command -v mariadb-install-db >/dev/null 2>&1 || missing+=(mariadb-server)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "crmqa needs Python >= 3.11 (found $(python3 --version))" >&2; exit 3; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.crmqa-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing crmqa and its Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev,db]'
  echo "$want" > "$stamp"
fi

if [ -f package-lock.json ]; then
  lock=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f node_modules/.crmqa-installed ] || [ "$(cat node_modules/.crmqa-installed)" != "$lock" ]; then
    say "installing npm tools (Allure 3, axe-core)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock" > node_modules/.crmqa-installed
  fi
fi
say "ready: .venv/bin/crmqa, Chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}"
