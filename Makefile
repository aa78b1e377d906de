.DEFAULT_GOAL := help
.PHONY: help test run bench build lint

help: ## list targets
	@echo "Targets:"
	@echo "  test   scripts/test.sh: ensure redis-server, gofmt, go vet, go test -race ./..."
	@echo "  run    build, then ./bin/herald serve (Ctrl-C or SIGTERM drains it)"
	@echo "  bench  go test -run=^$$ -bench=. -benchmem ./..."
	@echo "  build  go build -o bin/herald ./cmd/herald (or go install ./cmd/herald)"
	@echo "  lint   gofmt -l . (must be empty) + go vet ./..."

test:
	scripts/test.sh

# The binary, not go run: a signal sent to go run's process does not reach the node.
run: build
	./bin/herald serve

bench:
	go test -run='^$$' -bench=. -benchmem ./...

build:
	go build -o bin/herald ./cmd/herald

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
