# syntax=docker/dockerfile:1
# Images of the inference services, one build:
#   docker build -t arterys-mock-server .                                  # the mock (default)
#   docker build --target model-server -t arterys-model-server .           # model-server, CPU
#   docker build --target model-server-gpu -t arterys-model-server-gpu .   # onnxruntime on CUDA
# `docker compose up -d` builds and starts the mock (see README.md).

# Dependencies are compiled in a layer of their own (cargo-chef): a source change rebuilds
# only the workspace's crates.
FROM rust:1.95.0-bookworm AS chef
# send-inference-request decodes JPEG-LS with CharLS, built from source by charls-sys with
# cmake and g++. Built in one cargo run with the tool, mock-server and model-server get the
# feature too (cargo unifies it), so the images decode JPEG-LS. Versions: Debian bookworm.
RUN apt-get update && apt-get install -y --no-install-recommends cmake=3.25.1-1 g++=4:12.2.0-3 \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json \
      -p arterys-mock-server -p arterys-model-server -p arterys-inference-test-tool
COPY . .
RUN cargo build --release --locked -p arterys-mock-server -p arterys-model-server -p arterys-inference-test-tool \
 && strip target/release/mock-server target/release/model-server target/release/send-inference-request

# ONNX Runtime's CUDA build for the GPU image, from the onnxruntime-gpu wheel on PyPI.
FROM python:3.11.14-slim-bookworm AS onnxruntime-gpu
WORKDIR /src
COPY scripts/fetch-onnxruntime scripts/
RUN XDG_CACHE_HOME=/cache scripts/fetch-onnxruntime --gpu \
 && mkdir /opt/onnxruntime && cp /cache/arterys/onnxruntime/onnxruntime-gpu-*/lib* /opt/onnxruntime/

# model-server on a GPU node: CUDA 12 and cuDNN 9 as onnxruntime-gpu 1.32 needs them.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS model-server-gpu
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arterys
COPY --from=onnxruntime-gpu /opt/onnxruntime/ /opt/onnxruntime/
COPY --from=build /src/target/release/model-server /usr/local/bin/
COPY logging.yaml /app/logging.yaml
COPY mock-server/models/ /app/models/
ENV ORT_DYLIB_PATH=/opt/onnxruntime/libonnxruntime.so.1.32.0
WORKDIR /app
USER 10001
EXPOSE 8000
ENTRYPOINT ["model-server"]
CMD ["--config", "/app/models/demo_body.yaml", "--host", "0.0.0.0", "--port", "8000", "--logging-config", "/app/logging.yaml"]

# model-server on CPU (engine: tract; onnxruntime needs ORT_DYLIB_PATH and a mounted library).
FROM debian:12.12-slim AS model-server
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arterys
COPY --from=build /src/target/release/model-server /usr/local/bin/
COPY logging.yaml /app/logging.yaml
COPY mock-server/models/ /app/models/
WORKDIR /app
USER 10001
EXPOSE 8000
ENTRYPOINT ["model-server"]
CMD ["--config", "/app/models/demo_body.yaml", "--host", "0.0.0.0", "--port", "8000", "--logging-config", "/app/logging.yaml"]

# The mock inference service (the default target): the binaries, the demo models and
# logging.yaml, non-root. /app/output is the one writable place (send-inference-request's
# results); everything else may be a read-only root filesystem.
FROM debian:12.12-slim AS mock-server
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arterys
COPY --from=build /src/target/release/mock-server /src/target/release/send-inference-request /usr/local/bin/
COPY logging.yaml /app/logging.yaml
COPY mock-server/models/ /app/models/
RUN install -d -o arterys -g arterys /app/output
WORKDIR /app
USER 10001
EXPOSE 8000
# READY only once the model can take requests; bash's /dev/tcp needs no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'GET /healthcheck HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q READY <&3"]
ENTRYPOINT ["mock-server"]
CMD ["--host", "0.0.0.0", "--port", "8000", "--logging-config", "/app/logging.yaml"]
