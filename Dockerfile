# syntax=docker/dockerfile:1
# Images of the inference services, one build:
#   docker build -t arterys-mock-server .                                  # the mock (default)
#   docker build --target model-server -t arterys-model-server .           # model-server, CPU
#   docker build --target model-server-gpu -t arterys-model-server-gpu .   # onnxruntime on CUDA
# `docker compose up -d` builds and starts the mock (see README.md).

# Base images are build arguments with pinned defaults, so that a build can use a mirror or
# images made from Debian's packages (scripts/check-images does that: it builds and runs these
# images with podman where no registry can be reached).
ARG RUST_IMAGE=rust:1.95.0-bookworm
ARG DEBIAN_IMAGE=debian:12.12-slim
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# One cargo run builds the three binaries that every target takes its own from. Needs the
# pinned Rust toolchain (cargo on PATH, as in the rust image), a C compiler and make (jemalloc);
# every image codec is pure Rust. The target folder is a build cache: a rebuild compiles only
# what changed.
FROM ${RUST_IMAGE} AS build
# Where cargo keeps its registry; offline builds mount a filled one there.
ARG CARGO_HOME=/usr/local/cargo
ARG CARGO_NET_OFFLINE=false
ENV CARGO_HOME=${CARGO_HOME} CARGO_NET_OFFLINE=${CARGO_NET_OFFLINE} PATH=/usr/local/cargo/bin:${PATH}
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=arterys-target,target=/src/target \
    cargo build --release --locked -p arterys-mock-server -p arterys-model-server -p arterys-inference-test-tool \
 && mkdir /out \
 && cp target/release/mock-server target/release/model-server target/release/send-inference-request /out/ \
 && strip /out/*

# ONNX Runtime's CUDA build for the GPU image, from the onnxruntime-gpu wheel on PyPI.
FROM ${PYTHON_IMAGE} AS onnxruntime-gpu
WORKDIR /src
COPY scripts/fetch-onnxruntime scripts/
RUN XDG_CACHE_HOME=/cache scripts/fetch-onnxruntime --gpu \
 && mkdir /opt/onnxruntime && cp /cache/arterys/onnxruntime/onnxruntime-gpu-*/lib* /opt/onnxruntime/

# model-server on a GPU node: CUDA 12 and cuDNN 9 as onnxruntime-gpu 1.32 needs them.
FROM ${CUDA_IMAGE} AS model-server-gpu
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arterys
COPY --from=onnxruntime-gpu /opt/onnxruntime/ /opt/onnxruntime/
COPY --from=build /out/model-server /usr/local/bin/
COPY logging.yaml /app/logging.yaml
COPY mock-server/models/ /app/models/
ENV ORT_DYLIB_PATH=/opt/onnxruntime/libonnxruntime.so.1.32.0
WORKDIR /app
USER 10001
EXPOSE 8000
ENTRYPOINT ["model-server"]
CMD ["--config", "/app/models/demo_body.yaml", "--host", "0.0.0.0", "--port", "8000", "--logging-config", "/app/logging.yaml"]

# model-server on CPU (engine: tract; onnxruntime needs ORT_DYLIB_PATH and a mounted library).
FROM ${DEBIAN_IMAGE} AS model-server
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arterys
COPY --from=build /out/model-server /usr/local/bin/
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
FROM ${DEBIAN_IMAGE} AS mock-server
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arterys
COPY --from=build /out/mock-server /out/send-inference-request /usr/local/bin/
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
