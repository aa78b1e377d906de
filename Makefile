.DEFAULT_GOAL := help
.PHONY: help test run bench build lint

help: ## list targets
	@echo "Targets:"
	@echo "  test   scripts/test.sh: ensure redis-server, gofmt, go vet, go test -race ./..."
	@echo "  run    go run ./cmd/herald serve"
	@echo "  bench  go test -run=^$$ -bench=. -benchmem ./..."
	@echo "  build  go build -o bin/herald ./cmd/herald"
	@echo "  lint   gofmt -l . (must be empty) + go vet ./..."

test:
	scripts/test.sh

run:
	go run ./cmd/herald serve

bench:
	go test -run='^$$' -bench=. -benchmem ./...

build:
	go build -o bin/herald ./cmd/herald

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
