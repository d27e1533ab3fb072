# conduit as a container image: a static binary on an empty base.
#
#   podman build --format docker -t conduit .   (docker build -t conduit . ; the docker format
#                                                keeps the HEALTHCHECK, which OCI images drop)
#   podman run -p 3000:3000 -e APP__AUTH__JWT__SECRET_FILE=/run/secrets/jwt ... conduit
#
# Stages: `chef` (the toolchain and cargo-chef), `planner` (the dependency recipe), `build`
# (dependencies in a layer of their own, rebuilt only when Cargo.toml/Cargo.lock change, then the
# app), `runtime` (FROM scratch: the binary, its config, CA certificates, nothing else).
# `scripts/test-shipping` builds the runtime stage from a binary built on the host instead
# (--build-arg FILES=local, the files prepared in its context's `out/`); the other stages are
# then skipped. --build-arg FEATURES=postgres builds conduit for PostgreSQL.

ARG RUST_VERSION=1.94
ARG FILES=build

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install --locked cargo-chef@0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG FEATURES=""
# Static glibc, and getrandom(2) called directly (no /dev/urandom in the image): as
# scripts/build-static. The target is the builder's own (x86_64 or aarch64 gnu).
ENV RUSTFLAGS="-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\""
COPY --from=planner /src/recipe.json recipe.json
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
    && cargo chef cook --locked --profile dist --target "$target" -p conduit ${FEATURES:+--features "$FEATURES"} --recipe-path recipe.json
COPY . .
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
    && cargo build --locked --profile dist --target "$target" -p conduit ${FEATURES:+--features "$FEATURES"} \
    && mkdir -p /out/config /out/data /out/etc/ssl/certs \
    && cp "target/$target/dist/conduit" /out/conduit \
    && cp examples/conduit/config/default.toml /out/config/ \
    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
    && printf 'hosts: files dns\n' > /out/etc/nsswitch.conf

# The files of a host build (scripts/container): the same layout as the build stage's /out.
FROM scratch AS local
COPY out/ /out/

FROM ${FILES} AS files

FROM scratch AS runtime
COPY --from=files /out/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# /etc/hosts before DNS (glibc's default without this file asks DNS first, and a name the
# runtime put in /etc/hosts, --add-host or hostAliases, would not resolve).
COPY --from=files /out/etc/nsswitch.conf /etc/nsswitch.conf
COPY --from=files /out/config/ /config/
COPY --from=files --chown=10001:10001 /out/data/ /data/
COPY --from=files /out/conduit /conduit
# Production profile; config from /config (mount another over it); the database in /data (a
# volume; SQLite's temporary files there too: the image has no /tmp); listen on every interface
# of the container; drain within 8 s, inside `docker stop`'s default 10 s; JSON logs (stdout is
# not a terminal).
ENV APP_ENV=production \
    APP_CONFIG_DIR=/config \
    APP__SERVER__HOST=0.0.0.0 \
    APP__SERVER__PORT=3000 \
    APP__SERVER__SHUTDOWN_TIMEOUT=8s \
    APP__DATABASE__URL=sqlite:///data/conduit.db \
    APP__TELEMETRY__METRICS__PORT=9090 \
    SQLITE_TMPDIR=/data
USER 10001:10001
EXPOSE 3000 9090
VOLUME ["/data"]
# The binary is its own probe: no shell or curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/conduit", "health", "--timeout", "2s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/conduit"]
CMD ["serve"]
