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

# The benchmark of issue 5: calls by operation against their lower bound,
# wall time against the critical path, memory, the naive poller, Glue
# throttling, idle detection off and on (ListStatements calls and bytes),
# the registry at 10,000 and 100,000 tracked ids of 255 characters, the
# arm64 bootstrap's size, the cold start under the Runtime Interface
# Emulator, and the monthly cost, printed as Markdown tables (about 15
# minutes on 2 cores). Flags go in BENCH_FLAGS, such as
#   make bench BENCH_FLAGS='-n 100,1000 -latency 50ms -coldstart 0'
# and the idle-detection cases alone:
#   make bench BENCH_FLAGS="-n '' -throttle-n 0 -size=false -coldstart 0 -idle-n 1000"
.PHONY: bench
bench:
	$(GO) run ./internal/bench/run $(BENCH_FLAGS)

# The spoke for CloudFormation StackSets (README, "Across an Organization"):
# the arm64 bootstrap zipped, and template.yaml turned into plain
# CloudFormation offline by the machine's aws-sam-translator (service-managed
# StackSets refuse a Transform), its code read from
# s3://<CodeBucketPrefix>-<Region>/<CodeKey>. Written to $(SPOKE_DIR).
SPOKE_DIR ?= dist/spoke
PYTHON ?= python3
.PHONY: spoke
spoke:
	mkdir -p $(SPOKE_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(SPOKE_DIR)/bootstrap ./cmd/bootstrap
	$(PYTHON) deploy/spoke.py --template template.yaml --bootstrap $(SPOKE_DIR)/bootstrap --out $(SPOKE_DIR)
# Copy the published event schemas (schema/*.json) into template.yaml, the
# Content of its AWS::EventSchemas::Schema resources. Run after editing
# schema/; internal/templatetest fails until the two agree.
.PHONY: schemas
schemas:
	$(GO) run ./internal/schemagen -template template.yaml
