# trailmask container image: a multi-stage build (Rust toolchain only in the builder) and a small
# Debian runtime running as an unprivileged user.
#
#   docker build -t trailmask .
#   docker run -p 6432:6432 -p 9930:9930 \
#       -v /srv/trailmask/etc:/etc/trailmask:ro -v /srv/trailmask/trail:/var/lib/trailmask/trail \
#       -e TRAILMASK_CATALOG_PASSWORD -e TRAILMASK_TRAIL_HASH_KEY trailmask
#
# /etc/trailmask holds trailmask.toml (see config/trailmask.toml), the TLS files and
# trail-signing.key (make one with `docker run --rm -v DIR:/out trailmask keygen --out /out`).
# Inside a container set `[metrics] address = "0.0.0.0:9930"`: the default 127.0.0.1 is
# unreachable from outside it. The trail volume must be writable by uid 10001.

FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole tree (less what .dockerignore drops): the binary embeds config/demo/ and Cargo.toml
# names the benches, so cargo wants them present.
COPY . .
RUN cargo build --release --locked --bin trailmask \
    && install -m 0755 target/release/trailmask /usr/local/bin/trailmask

FROM debian:bookworm-slim
# ca-certificates: upstream TLS with mode = "verify-full" against a public CA.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 trailmask \
    && useradd --system --uid 10001 --gid trailmask --home-dir /var/lib/trailmask \
        --shell /usr/sbin/nologin trailmask \
    && install -d -o trailmask -g trailmask -m 0750 /var/lib/trailmask /var/lib/trailmask/trail \
    && install -d -m 0755 /etc/trailmask
COPY --from=builder /usr/local/bin/trailmask /usr/local/bin/trailmask
COPY config/trailmask.toml /usr/share/doc/trailmask/trailmask.toml.example
USER trailmask:trailmask
WORKDIR /var/lib/trailmask
VOLUME ["/var/lib/trailmask/trail"]
# 6432: PostgreSQL clients ([listen] address); 9930: /metrics, /healthz, /readyz, /checkpoint.
EXPOSE 6432 9930
# SIGTERM (docker stop) drains sessions and seals the trail; give it shutdown_grace_secs.
STOPSIGNAL SIGTERM
ENTRYPOINT ["trailmask"]
CMD ["proxy", "--config", "/etc/trailmask/trailmask.toml"]
