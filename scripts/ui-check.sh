#!/usr/bin/env bash
# scripts/ui-check.sh checks that the committed browser notebook (ui/dist)
# is the build of its sources (ui/src) with the pinned dependencies: it
# installs them exactly (npm ci, from ui/package-lock.json), type-checks,
# builds, and fails if the build differs from what is committed.
#
#   ./scripts/ui-check.sh
#
# After changing ui/src: cd ui && npm run build, and commit ui/dist.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../ui"

npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
npm run --silent build
if ! git diff --exit-code --stat -- dist || [[ -n "$(git ls-files --others --exclude-standard -- dist)" ]]; then
	echo "ui/dist does not match ui/src: run (cd ui && npm run build) and commit ui/dist" >&2
	git ls-files --others --exclude-standard -- dist >&2
	exit 1
fi
echo "ui/dist matches ui/src"
