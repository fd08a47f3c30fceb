#!/usr/bin/env bash
# scripts/minio.sh runs a throwaway MinIO on loopback for the S3 tests and
# benchmarks of storage/. scripts/test.sh sources it; run it directly to wrap
# any command:
#
#   ./scripts/minio.sh go test -run S3 -bench ReadAt ./storage/
#
# It installs the pinned server once (go install, about 3-4 minutes), starts
# it on 127.0.0.1 with a free port and a temporary data directory, waits for
# /minio/health/ready, exports WEIR_TEST_S3_ENDPOINT, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY and AWS_REGION, and stops it (and deletes the data)
# when the shell exits. Nothing here needs curl or python: the readiness
# probe uses bash's /dev/tcp.

# The server is pinned like golangci-lint: a new MinIO may change behaviour
# the tests rely on (conditional writes), and that should arrive in a commit
# that bumps this line.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# minio_install sets MINIO_BIN, building the server into a per-version cache
# directory unless it is there already. WEIR_CACHE_DIR moves the cache.
minio_install() {
	local cache="${WEIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/weir}/minio-${MINIO_VERSION}"
	MINIO_BIN="$cache/minio"
	if [[ -x "$MINIO_BIN" ]]; then
		return
	fi
	echo "installing minio ${MINIO_VERSION} into $cache (takes a few minutes, once)"
	mkdir -p "$cache"
	local t0=$SECONDS
	# A temporary GOBIN and a rename, so an interrupted build never leaves
	# a half-written binary where the check above would trust it.
	local tmp
	tmp=$(mktemp -d "$cache/.build.XXXXXX")
	# GOFLAGS=-mod=mod: install by version, ignoring any go.work or vendor
	# settings of the surrounding checkout.
	GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/minio/minio@${MINIO_VERSION}"
	mv "$tmp/minio" "$MINIO_BIN"
	rmdir "$tmp"
	echo "built minio in $((SECONDS - t0))s"
}

# minio_port_free reports whether nothing listens on 127.0.0.1:$1.
minio_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# minio_ready reports whether the server at 127.0.0.1:$1 answers 200 on its
# readiness endpoint.
minio_ready() (
	# A subshell: a failed exec redirection must not end the caller.
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	printf 'GET /minio/health/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
	IFS= read -r -t 2 status <&3 || status=""
	[[ "$status" == *" 200 "* ]]
)

# minio_start starts the server and exports the test environment. It tries
# a few random ports in case another process takes the one it picked.
minio_start() {
	minio_install
	MINIO_DATA=$(mktemp -d "${TMPDIR:-/tmp}/weir-minio.XXXXXX")
	# EPOCHREALTIME (bash 5) with its separator removed: microseconds.
	local attempt port t0=${EPOCHREALTIME//[!0-9]/} deadline
	for attempt in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		minio_port_free "$port" || continue
		MINIO_ROOT_USER=weir-test MINIO_ROOT_PASSWORD=weir-test-secret \
			MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=on \
			"$MINIO_BIN" server --quiet --address "127.0.0.1:$port" "$MINIO_DATA/data" \
			>"$MINIO_DATA/log" 2>&1 &
		MINIO_PID=$!
		deadline=$((SECONDS + 30))
		while ((SECONDS < deadline)); do
			if ! kill -0 "$MINIO_PID" 2>/dev/null; then
				break # exited: port taken, or worse; see the log below
			fi
			if minio_ready "$port" 2>/dev/null; then
				export WEIR_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
				export AWS_ACCESS_KEY_ID=weir-test
				export AWS_SECRET_ACCESS_KEY=weir-test-secret
				export AWS_REGION=us-east-1
				echo "minio ready at $WEIR_TEST_S3_ENDPOINT in $(((${EPOCHREALTIME//[!0-9]/} - t0) / 1000)) ms (pid $MINIO_PID, data $MINIO_DATA)"
				return 0
			fi
			sleep 0.1 # a poll interval, not a wait for readiness
		done
		kill "$MINIO_PID" 2>/dev/null || true
		wait "$MINIO_PID" 2>/dev/null || true
		MINIO_PID=""
		echo "minio did not become ready on port $port (attempt $attempt); its log:" >&2
		tail -n 20 "$MINIO_DATA/log" >&2 || true
	done
	echo "could not start minio" >&2
	return 1
}

# minio_stop stops the server started by minio_start and removes its data.
minio_stop() {
	if [[ -n "${MINIO_PID:-}" ]]; then
		kill "$MINIO_PID" 2>/dev/null || true
		wait "$MINIO_PID" 2>/dev/null || true
		MINIO_PID=""
	fi
	if [[ -n "${MINIO_DATA:-}" ]]; then
		rm -rf "$MINIO_DATA"
		MINIO_DATA=""
	fi
}

# Run directly: start MinIO, run the command, stop MinIO.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	if (($# == 0)); then
		echo "usage: $0 command [args...]   (runs the command with a MinIO and its environment)" >&2
		exit 2
	fi
	trap minio_stop EXIT
	minio_start
	"$@"
fi
