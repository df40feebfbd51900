# The mock inference service: `docker compose up -d` builds and starts it (see README.md).
# Build stage: the whole workspace's release binaries.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p arterys-mock-server -p arterys-inference-test-tool \
 && strip target/release/mock-server target/release/send-inference-request

# Runtime stage: a small image with the binaries and logging.yaml, running as a non-root user.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arterys
COPY --from=build /src/target/release/mock-server /src/target/release/send-inference-request /usr/local/bin/
COPY logging.yaml /app/logging.yaml
WORKDIR /app
USER arterys
EXPOSE 8000
# READY only once the model can take requests; bash's /dev/tcp needs no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'GET /healthcheck HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q READY <&3"]
ENTRYPOINT ["mock-server"]
CMD ["--host", "0.0.0.0", "--port", "8000", "--logging-config", "/app/logging.yaml"]
