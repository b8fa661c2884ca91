"""What the side-by-side table scripts (knn_table.py, knn_approx_table.py) share: each tool runs in a child process
of the script itself (``--worker ...``) with the same thread limits, and reports its peak memory from
/proc/self/status (VmHWM sees native allocations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rbic_fast._peers import faiss_openblas_coretype


def vm_kib(field: str) -> int:
    """A /proc/self/status memory field (VmRSS, VmHWM, ...) in KiB; 0 where there is none."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_worker(script: str, worker_args: list[str], threads: int, faiss: bool) -> dict:
    """Run ``script --worker *worker_args`` limited to ``threads`` and return the JSON object on its last output
    line, or ``{"error": its last stderr line}`` when it fails.

    :param script: the table script (its ``__file__``).
    :param worker_args: the worker's arguments.
    :param threads: OpenMP / BLAS / numba threads of the child.
    :param faiss: the tool is faiss (its bundled OpenBLAS gets the core type it misdetects, unless one is set).
    """
    # Passive OpenMP waits: on a shared machine, spinning barriers (faiss's OpenMP loops) collapse when
    # cores are oversubscribed; this keeps the comparison about the kernels, not about spin-waiting.
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        NUMBA_NUM_THREADS=str(threads),
        OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    )
    coretype = faiss_openblas_coretype()
    if faiss and coretype and "OPENBLAS_CORETYPE" not in os.environ:
        env["OPENBLAS_CORETYPE"] = coretype
    cmd = [sys.executable, script, "--worker", *worker_args]
    res = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])
