# sessionwatch build and test targets. `make demo` and `make test` are the
# two commands a newcomer needs; `sam build` calls build-SessionWatchFunction.

GO ?= go

.PHONY: demo test bootstrap build-SessionWatchFunction

demo:
	$(GO) run ./cmd/sessionwatch demo

test:
	./.ci/test.sh

# The Lambda bootstrap, built as the template says: static, no RPC shim.
bootstrap:
	CGO_ENABLED=0 GOOS=linux GOARCH=$${GOARCH:-arm64} $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bootstrap ./cmd/bootstrap

build-SessionWatchFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./cmd/bootstrap

# Invoke the real bootstrap with one sample event under the Lambda Runtime
# Interface Emulator, against moto and the Glue emulator (no Docker):
#   make local-invoke EVENT=events/poll-ids.json
.PHONY: local-invoke
local-invoke:
	$(GO) run ./internal/localinvoke/run -event $(EVENT)
