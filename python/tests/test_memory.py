"""A 150 MB study through a Python handler that decodes every slice stays within the memory
budget (the server's peak resident memory, from /proc)."""

import numpy as np

from conftest import decode, post
from ct import ct_series

BUDGET_MIB = 400


def slices(n: int = 300, size: int = 512):
    pixels = (np.arange(size * size, dtype=np.uint16) % 4096).reshape(size, size)
    return ct_series(np.broadcast_to(pixels, (n, size, size)))


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_150_mb_study_stays_within_the_budget(serve):
    files = slices()
    size = sum(map(len, files))
    assert size > 150e6
    app = serve("behaviour.py", f"memory_budget_mib={BUDGET_MIB}", "body_limit_mib=1024")
    before = peak_rss_mib(app.proc.pid)
    body = decode(post(app.url + "/mean", {}, files, timeout=300))[0].content
    assert __import__("json").loads(body)["study_ml_json"]["mean"] > 0
    peak = peak_rss_mib(app.proc.pid)
    print(f"study {size / 2**20:.0f} MiB, server peak RSS {peak:.0f} MiB (at start {before:.0f} MiB)")
    assert peak < BUDGET_MIB, peak
