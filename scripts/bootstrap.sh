# Sourced by scripts/run and scripts/test: makes the venv and installs what SBEMS needs.
# Idempotent and quick when nothing changed (a stamp keyed on pyproject.toml).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"

need_apt=()
# Prefer the system Python (readable by the unprivileged user PostgreSQL runs as); it must be >= 3.11.
PY=""
for candidate in /usr/bin/python3 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PY="$(command -v "$candidate")"; break
  fi
done
if [ -z "$PY" ]; then echo "SBEMS needs Python >= 3.11 (apt-get install python3)" >&2; exit 1; fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
# An MQTT broker: mosquitto when no broker answers on 1883 (else the pure-Python amqtt fallback is used).
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then need_apt+=(mosquitto); fi

# The panel's real-browser smoke test uses headless Chromium (skipped when absent).
if [ "${SBEMS_WANT_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${need_apt[*]} (apt)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}") >/dev/null 2>&1 \
      || echo "warning: apt-get install ${need_apt[*]} failed; continuing with fallbacks" >&2
  else
    echo "note: ${need_apt[*]} not installed (needs root/apt); using fallbacks where possible" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.sbems-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== installing SBEMS and its dependencies into $VENV (first run takes a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.sbems/prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_LOGGING_LEVEL="${PREFECT_LOGGING_LEVEL:-WARNING}"
