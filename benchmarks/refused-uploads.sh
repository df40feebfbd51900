#!/usr/bin/env bash
# How many of CLIENTS concurrent Python http.client uploads of MB megabytes read their answer
# (the 503 of a full memory budget, or the service's own) rather than a broken pipe, against
# the mock-server binary BIN with a BUDGET MiB memory budget. http.client writes the whole
# body before it reads, so it reads an early refusal only if the server drains the body.
#
#   benchmarks/refused-uploads.sh target/release/mock-server [CLIENTS=16] [MB=150] [BUDGET=1024]
set -euo pipefail
bin=${1:?usage: refused-uploads.sh MOCK_SERVER_BIN [CLIENTS] [MB] [BUDGET_MIB]}
clients=${2:-16}
mb=${3:-150}
budget=${4:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$bin" --host 127.0.0.1 --port "$port" --memory-budget-mib "$budget" --mode boxes >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 300); do
  [ "$(curl -s "http://127.0.0.1:$port/healthcheck" || true)" = READY ] && break
  sleep 0.1
done
results=$(python3 "$root/test-support/clients/refused_upload.py" 127.0.0.1 "$port" "$mb" "$clients")
echo "$results" | sort | uniq -c | sed 's/^/  /'
read_answer=$(echo "$results" | grep -vc '^error' || true)
echo "$read_answer of $clients http.client uploads of $mb MB read their answer ($budget MiB budget, $bin)"
