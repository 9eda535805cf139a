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

# cfn-lint (with aws-sam-translator) ships with the machine's pyenv Python
# 3.11, like moto_server below: found, not installed. It lints template.yaml
# when present; with CI set, its absence is a failure.
cfnlint=$(command -v cfn-lint || true)
if [ -z "$cfnlint" ] && [ -x "${PYENV_ROOT:-$HOME/.pyenv}/shims/cfn-lint" ]; then
  cfnlint=${PYENV_ROOT:-$HOME/.pyenv}/shims/cfn-lint
fi
# A pyenv shim whose selected Python lacks cfn-lint counts as absent.
if [[ $cfnlint == */shims/cfn-lint ]] && [ -x "${cfnlint%/shims/*}/libexec/pyenv" ] &&
  ! PYENV_ROOT=${cfnlint%/shims/*} "${cfnlint%/shims/*}/libexec/pyenv" which cfn-lint >/dev/null 2>&1; then
  cfnlint=
fi
if [ -n "$cfnlint" ]; then
  log "cfn-lint template.yaml ($cfnlint)"
  "$cfnlint" template.yaml
elif [ -n "${CI:-}" ]; then
  echo "cfn-lint not found: CI lints template.yaml with cfn-lint 1.51.0 (it ships with the machine's pyenv Python 3.11, on PATH through the pyenv shims)" >&2
  exit 1
else
  log "cfn-lint not found: template.yaml not linted (CI=true makes this a failure)"
fi

# moto_server ships with the machine's pyenv Python 3.11; no registry here
# serves it, so it is found, not installed.
moto=$(command -v moto_server || true)
if [ -z "$moto" ] && [ -x "${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server" ]; then
  moto=${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server
fi
missing="the integration tests need moto_server 5.2.1 on PATH (it ships with the machine's pyenv Python 3.11)"
if [ -z "$moto" ]; then
  echo "moto_server not found: $missing" >&2
  exit 1
fi
# A pyenv shim is resolved to the executable it would run, the way the shim
# itself does (pyenv which, under the shim's own root), so that the process
# started below is moto_server and not a wrapper in front of it; and a shim
# whose selected Python lacks moto_server is reported here, by name.
if [[ $moto == */shims/moto_server ]] && [ -x "${moto%/shims/*}/libexec/pyenv" ]; then
  root=${moto%/shims/*}
  if ! real=$(PYENV_ROOT=$root "$root/libexec/pyenv" which moto_server 2>&1); then
    echo "moto_server not found behind the pyenv shim $moto (${real%%$'\n'*}): $missing" >&2
    exit 1
  fi
  moto=$real
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 50$((RANDOM % 900 + 100)))
moto_log="${TMPDIR:-/tmp}/sessionwatch-moto-$port.log"
log "moto_server on 127.0.0.1:$port ($moto)"
"$moto" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
moto_pid=$!

# stop_moto stops the moto_server this script started, and only it: SIGTERM,
# then wait until it is gone (it takes up to a second or two to exit, so
# not waiting left it running after the script returned), SIGKILL after 10 s.
stop_moto() {
  kill "$moto_pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$moto_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "moto_server (pid $moto_pid) still running 10 s after SIGTERM: SIGKILL" >&2
  kill -KILL "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
}
# The script exits with its own status, whatever stopping moto returns.
trap 'status=$?; stop_moto; exit $status' EXIT

ready=
for _ in $(seq 1 100); do
  if (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then ready=1; break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto_server exited at start:" >&2
    cat "$moto_log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "moto_server did not accept connections on 127.0.0.1:$port within 10 s:" >&2
  cat "$moto_log" >&2
  exit 1
fi
export MOTO_ENDPOINT="http://127.0.0.1:$port"

log "go test"
go test -race -count=1 -timeout 20m "$@" ./...
