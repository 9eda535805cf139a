#!/usr/bin/env bash
# The whole test suite, as `make test` runs it on a fresh machine: checks
# formatting and vet, starts moto for the integration tests, runs every
# package's tests. Integration tests never skip when CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
log "go vet"
go vet ./...
log "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# moto_server ships with the machine's pyenv Python 3.11; no registry here
# serves it, so it is found, not installed.
moto=$(command -v moto_server || true)
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server"; do
  [ -n "$moto" ] && break
  [ -x "$candidate" ] && moto=$candidate
done
if [ -z "$moto" ]; then
  echo "moto_server not found: the integration tests need moto_server 5.2.1 on PATH (it ships with the machine's pyenv Python 3.11)" >&2
  exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 50$((RANDOM % 900 + 100)))
log "moto_server on 127.0.0.1:$port"
"$moto" -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/sessionwatch-moto-$port.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto_server exited at start:" >&2
    cat "${TMPDIR:-/tmp}/sessionwatch-moto-$port.log" >&2
    exit 1
  fi
  sleep 0.1
done
export MOTO_ENDPOINT="http://127.0.0.1:$port"

log "go test"
go test -count=1 -timeout 20m "$@" ./...
