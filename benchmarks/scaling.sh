#!/usr/bin/env bash
# Throughput against cores and concurrency, ours against the reference peer, on whatever machine
# this runs on: `bench transport` pins each server to 1, 2, 4, 8 and 16 cores (those the machine
# has) with taskset, loads it with ab from the other cores, and sends the 300-slice study.
#
#   benchmarks/scaling.sh [OUT_DIR]        # default target/bench-scaling
#
# Needs ab (apt-get install apache2-utils), taskset and python3 (for the reference's venv).
# BENCH=path/to/bench uses a built binary instead of building one; BENCH_WHEELS=DIR installs
# the reference offline (make DIR on a networked machine with
# `pip download -r benchmarks/reference/requirements.txt -d DIR`, same Python version).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench-scaling}
for tool in ab taskset python3; do
    command -v "$tool" >/dev/null || { echo "scaling.sh: $tool is needed (ab: apt-get install apache2-utils)" >&2; exit 1; }
done
bench=${BENCH:-}
if [ -z "$bench" ]; then
    cargo build --release --locked -p benchmarks
    bench=target/release/bench
fi
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" transport --cores 1,2,4,8,16 --concurrency 1,2,4,8,16,32,64 --out "$out"
