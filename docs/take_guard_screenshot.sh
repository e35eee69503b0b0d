#!/usr/bin/env bash
# The guard's alarm over a frozen live window, as the X server shows it (Xvfb, 1280x800 unless a size is given):
#   bash docs/take_guard_screenshot.sh docs/screenshot-guard-1280x800.png
#   bash docs/take_guard_screenshot.sh /tmp/guard-1920x1080.png 1920x1080
# The real `gui` program records a simulated session at 10x for 25 s; it is then stopped (SIGSTOP) for 6 s,
# the screen is grabbed, and the program is let go and ended with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/screenshot-guard-1280x800.png}")
work=$(mktemp -d)
export HOME=$work XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config INFUSION_MONITOR_KEY_FILE=$work/monitor.key
export INFUSION_MONITOR_SECRET=screenshot-secret-4821
echo "$INFUSION_MONITOR_SECRET" > "$work/secret" && chmod 600 "$work/secret"
.venv/bin/python -m monitor.cli users add --db "$work/m.db" --role admin --new-secret-file "$work/secret" RN >/dev/null
Xvfb :97 -screen 0 "${2:-1280x800}x24" >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
sleep 2
export DISPLAY=:97
.venv/bin/python -m monitor.cli gui --db "$work/m.db" --user RN --chair "Chair 3" --scenario hypertension \
    --speed 10 >"$work/out.txt" 2>&1 &
gui=$!
sleep 25
kill -STOP $gui
sleep 6
.venv/bin/python -c "import sys; from PySide6.QtWidgets import QApplication; app = QApplication(sys.argv[:1]); \
app.primaryScreen().grabWindow(0).save(sys.argv[1])" "$out"
kill -CONT $gui
sleep 2
kill -TERM $gui
wait $gui || true
grep -E "guard|ALARM" "$work/out.txt"
