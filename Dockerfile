# syntax=docker/dockerfile:1
# learnstream: one static binary on a small Debian base.
#
#   docker build --build-arg VERSION=v1.2.3 -t learnstream .   (learnstream version prints it)
#   docker run -p 8080:8080 -e LEARNSTREAM_ADMIN_KEY=... -e LEARNSTREAM_ADMIN_SECRET=... -e LEARNSTREAM_SIGNING_KEY=... \
#     learnstream serve --kafka broker:9092 --http 0.0.0.0:8080
#
# docker-compose.yml builds and runs it next to Kafka and ClickHouse.

ARG GO_VERSION=1.26

# ---------------------------------------------------------------- build stage
FROM golang:${GO_VERSION} AS build
WORKDIR /src

# module downloads are cached in their own layer, keyed by go.mod/go.sum only
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
# the version `learnstream version` and the start-up log report
ARG VERSION=dev
ENV GOCACHE=/gocache
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/gocache \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/learnstream ./cmd/learnstream

# -------------------------------------------------------------- runtime stage
FROM debian:trixie-slim

# curl for the health check, CA certificates for TLS to Kafka/ClickHouse
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 learnstream \
 && useradd --system --uid 10001 --gid learnstream --home-dir /data --no-create-home learnstream \
 && mkdir -p /data \
 && chown learnstream:learnstream /data

COPY --from=build /out/learnstream /usr/local/bin/learnstream

USER learnstream:learnstream
WORKDIR /data
ENV LEARNSTREAM_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD curl -fsS http://127.0.0.1:8080/healthz >/dev/null || exit 1

ENTRYPOINT ["learnstream"]
CMD ["serve", "--http", "0.0.0.0:8080"]
