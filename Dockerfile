# Herald's container image: a static binary on a distroless base, run as a
# non-root user. With no Redis configured it runs the embedded mode; compose.yaml
# runs it with a Redis set up as docs/OPERATIONS.md requires.
#
#   docker build -t herald .
#   docker compose up --build
#
# cmd/herald/container_test.go builds the binary with this file's go build line
# and starts it with its ENTRYPOINT, CMD and HEALTHCHECK: keep them simple enough
# for it to read (one go build line, exec-form JSON arrays).

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/herald ./cmd/herald

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /usr/local/bin/herald
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/herald", "health"]
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["serve"]
