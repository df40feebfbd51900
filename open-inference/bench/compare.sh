#!/usr/bin/env bash
# Compares this crate's client with Triton's own Python client (tritonclient[http])
# on the same real Triton server, model and tensors. Prints a JSON line per client
# and the ratio of their mean times, for the demo model (image of SHAPE in, its three
# outputs back) and for an identity model (as many floats in and back: the protocol's
# cost alone).
#
#   open-inference/bench/compare.sh [ITERATIONS] [SHAPE]
#
# Needs the Python of .venv-triton (scripts/test creates it), or ARTERYS_TRITON_PYTHON.
# Set CARGO_PROFILE to build the Rust side with another profile (default release).
set -euo pipefail
cd "$(dirname "$0")/../.."
ITERATIONS="${1:-30}"
SHAPE="${2:-4,1,256,256}"
PYTHON="${ARTERYS_TRITON_PYTHON:-.venv-triton/bin/python}"
PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
WORKDIR="$(mktemp -d)"
OUTPUTS=(--output probability --output class_logits --output tissue_logits)

cargo build --quiet --profile "${CARGO_PROFILE:-release}" -p arterys-open-inference --example infer_bench
PROFILE_DIR="${CARGO_PROFILE:-release}"
[ "$PROFILE_DIR" = dev ] && PROFILE_DIR=debug
BENCH="target/$PROFILE_DIR/examples/infer_bench"

"$PYTHON" open-inference/tests/triton/start_triton.py serve --workdir "$WORKDIR" --http-port "$PORT" \
    --model "demo_body=mock-server/models/demo_body.onnx" --slow-seconds 0 >"$WORKDIR/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORKDIR"' EXIT
for _ in $(seq 1 600); do
    "$PYTHON" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/v2/health/ready', timeout=1)" \
        2>/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORKDIR/server.log"; exit 1; }
    sleep 0.2
done

ELEMENTS=$(( ${SHAPE//,/*} ))
compare() { # NAME, then the arguments both clients get
    local name="$1"
    shift
    # Alternate the two clients so that drift in the machine's load hits both alike.
    for round in 1 2; do
        "$PYTHON" open-inference/bench/direct_client.py --url "127.0.0.1:$PORT" "$@" --iterations "$ITERATIONS" \
            | tee "$WORKDIR/$name-python-$round.json"
        "$BENCH" --url "http://127.0.0.1:$PORT" "$@" --iterations "$ITERATIONS" | tee "$WORKDIR/$name-rust-$round.json"
    done
    "$PYTHON" - "$WORKDIR" "$name" <<'PY'
import json, pathlib, sys
d, name = pathlib.Path(sys.argv[1]), sys.argv[2]
def mean(kind):
    return sum(json.loads((d / f"{name}-{kind}-{r}.json").read_text())["ms_per_call"] for r in (1, 2)) / 2
rust, python = mean("rust"), mean("python")
print(f"{name}: arterys-open-inference {rust:.2f} ms/call, tritonclient {python:.2f} ms/call, "
      f"ratio {rust / python:.3f}")
PY
}
compare demo_body --model demo_body --input image --shape "$SHAPE" "${OUTPUTS[@]}"
compare identity --model slow --input x --shape "$ELEMENTS" --output y
