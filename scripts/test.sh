#!/usr/bin/env bash
# scripts/test.sh is weir's one test command: formatting, vet, lint, every test,
# and the race detector over the concurrent core. It installs what the tests
# need, so that it runs on a fresh Debian machine that has only Go, gcc and
# node/npm (as root, as in CI). CI runs it through .ci/run.
#
#   ./scripts/test.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# golangci-lint is pinned: a new release brings new findings, and those should
# arrive in a commit that bumps this line, not in an unrelated change.
GOLANGCI_LINT_VERSION=v2.15.0

start=$SECONDS
section_start=""
# section prints a header, after the time the previous section took.
section() {
	if [[ -n "$section_start" ]]; then
		printf '    (%ds)\n' "$((SECONDS - section_start))"
	fi
	section_start=$SECONDS
	printf '\n==> %s\n' "$*"
}

section "go version"
go version

section "gofmt"
# testdata may hold Go that is unformatted on purpose; .cache and bin are local
# build output (see .gitignore).
mapfile -d '' go_files < <(find . \
	\( -name .git -o -name testdata -o -name node_modules -o -path ./.cache -o -path ./bin \) -prune \
	-o -name '*.go' -type f -print0)
unformatted=""
if ((${#go_files[@]} > 0)); then
	unformatted=$(gofmt -l "${go_files[@]}")
fi
if [[ -n "$unformatted" ]]; then
	echo "these files are not gofmt-formatted (fix with: gofmt -w <file>):" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "ok"

section "go vet"
go vet ./...

section "golangci-lint ${GOLANGCI_LINT_VERSION}"
gopath=$(go env GOPATH)
lint_dir="${gopath%%:*}/bin"
lint="$lint_dir/golangci-lint"
if [[ ! -x "$lint" ]] || [[ "v$("$lint" version --short 2>/dev/null || true)" != "$GOLANGCI_LINT_VERSION" ]]; then
	echo "installing golangci-lint ${GOLANGCI_LINT_VERSION} into $lint_dir (takes a few minutes, once)"
	GOBIN="$lint_dir" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}"
fi
"$lint" run ./...

# ---------------------------------------------------------------------------
# Services and tools the tests need. Each is installed if missing and started
# here, so that no test is skipped for want of it.
#
# Chromium (a later issue, with ui/): Debian's chromium package
# (apt-get update && apt-get install -y chromium) driven by playwright-core
# with executablePath /usr/bin/chromium. A test tool's own browser download
# (npx playwright install) cannot work here: only the package registries are
# reachable.
# ---------------------------------------------------------------------------

# MinIO, a real S3 server for the S3 tests of storage/: scripts/minio.sh
# builds the pinned server into ~/.cache/weir/ once (a few minutes), starts
# it on 127.0.0.1 with a free port and a temporary data directory, polls
# /minio/health/ready and exports WEIR_TEST_S3_ENDPOINT and the AWS_*
# settings; the trap stops it and removes its data however the script ends.
# Under CI=true the S3 tests fail, rather than skip, without it.
section "minio"
# shellcheck source=scripts/minio.sh
source scripts/minio.sh
trap minio_stop EXIT
minio_start

# --- ui (browser notebook) ---------------------------------------------------
# The browser tests (ui/e2e_test.go, run by "go test" below) drive Debian's
# chromium with playwright-core from ui/node_modules; under CI=true they fail
# rather than skip without them. So: install chromium if it is missing, npm ci
# (exact versions from ui/package-lock.json), and check that the committed
# ui/dist is the build of ui/src (scripts/ui-check.sh).
section "ui: chromium, npm ci, ui/dist matches ui/src"
if [[ ! -x /usr/bin/chromium ]]; then
	echo "installing Debian's chromium (once)"
	sudo=""
	if [[ $EUID -ne 0 ]]; then sudo="sudo"; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
./scripts/ui-check.sh
# --- end ui ------------------------------------------------------------------

section "go test"
go test -count=1 ./...

# bench/duckdb is a module of its own (DuckDB through cgo, kept out of weir's
# module): the differential tests of weir against DuckDB on generated Parquet.
# go-duckdb links a prebuilt DuckDB; its first build takes a few minutes,
# then the build cache has it.
section "go test bench/duckdb (weir vs DuckDB)"
(cd bench/duckdb && go vet ./... && go test -count=1 ./...)

# The race detector over the concurrent core (exchanges, barriers, watermark
# trackers). -short keeps the randomized suites to a size the slower race
# build finishes in reasonable time.
race_pkgs=()
for dir in dataflow watermark storage; do
	if [[ -d "$dir" ]] && [[ -n "$(find "$dir" -name '*.go' -type f -print -quit)" ]]; then
		race_pkgs+=("./$dir/...")
	fi
done
if ((${#race_pkgs[@]} > 0)); then
	section "go test -race -short ${race_pkgs[*]}"
	go test -count=1 -race -short "${race_pkgs[@]}"
fi

section "done"
printf 'all checks passed in %ds\n' "$((SECONDS - start))"
