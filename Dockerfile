# syntax=docker/dockerfile:1
# Docket's one container image: every binary (gateway, joiner, each sink, the `docket` CLI) in a
# small Debian runtime, run as a numeric non-root user. Which program runs is chosen by the
# container's command (the Helm chart and docker-compose.yml set it); docs/docker.md says why.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------- build
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# librdkafka is built from source by the rdkafka crate (cmake-build, vendored OpenSSL, static curl).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Every binary Docket ships; the loop fails the build if one of them was not produced.
ARG BINARIES="docket docket-gateway docket-joiner docket-sink-s3 docket-sink-splunk docket-sink-datadog docket-sink-otlp"
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out/bin \
 && for bin in $BINARIES; do install -m 0755 "target/release/$bin" /out/bin/ || exit 1; done

# ---------------------------------------------------------------- runtime
FROM debian:${DEBIAN_RELEASE}-slim
# CA certificates for TLS to Kafka, S3, Splunk, Datadog and OTLP endpoints; nothing else.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/ /usr/local/bin/
# The only writable places a pod needs are mounted volumes (the gateway's state directory);
# the root filesystem can be read-only. /tmp is kept for tools that expect it.
WORKDIR /var/lib/docket
USER 10001:10001
ENV DOCKET_GATEWAY_STATE_DIR=/var/lib/docket/gateway
# Which binary runs is the container's command: e.g. `docket-joiner`, `docket-sink-s3`, `docket status`.
CMD ["docket", "--help"]
