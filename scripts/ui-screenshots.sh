#!/usr/bin/env bash
# scripts/ui-screenshots.sh runs the browser tests (ui/e2e_test.go) and
# keeps their pictures of the main views in docs/screenshots/ (the README
# shows docs/screenshots/notebook.png). Needs what scripts/test.sh installs:
# /usr/bin/chromium and ui/node_modules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WEIR_SCREENSHOTS="$PWD/docs/screenshots" go test -count=1 -run TestBrowser ./ui/
ls -l docs/screenshots
