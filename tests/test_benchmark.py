"""``rbic bench`` and the stage meter behind its per-stage memory column."""

from __future__ import annotations

import numpy as np
import pytest
import rbic_fast
from rbic_fast._resources import StageMeter, current_rss, peak_rss
from rbic_fast.benchmark import _approx_rows, run_benchmark
from rbic_fast.cli import main
from rbic_fast.synthetic import clustered_embeddings


def test_stage_meter_sees_the_memory_a_stage_allocates():
    meter = StageMeter(interval=0.005)
    try:
        with meter.stage("small"):
            np.ones(1000).sum()
        with meter.stage("big"):
            a = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
            a.sum()
            del a
        with meter.stage("small"):  # a repeated stage adds its time
            pass
    finally:
        meter.close()
    table = meter.table()
    assert list(table) == ["small", "big"]
    assert table["big"]["peak_rss_mb"] >= table["small"]["peak_rss_mb"] + 150
    assert all(v["seconds"] >= 0 for v in table.values())
    assert peak_rss() >= current_rss() > 0


def test_bench_runs_the_job_and_each_kernel_side_by_side(tmp_path):
    report = run_benchmark(600, threads=1, workdir=tmp_path, kernel_n=300, repeat=2, peers=False)
    job = {r.tool: r for r in report.rows if r.section == "job"}
    assert {"load", "graph", "select"} <= set(job)
    total = next(r for name, r in job.items() if name.startswith("total"))
    assert total.seconds > 0 and total.peak_rss_mb > 50  # the child's own peak, a Python process with numpy
    assert "selection identical across 2 runs: yes" in report.notes
    knn = [r for r in report.rows if r.section == "knn"]
    assert [r.role for r in knn if r.role != "ours"] == ["baseline"] and knn[0].role == "ours"
    assert knn[-1].quality == "recall@16 1.000"  # NumPy's exact kNN agrees with ours
    # the int8 row (on CPUs with AVX512_VNNI) reports the fp32 graph itself
    int8 = [r for r in knn if r.tool == "rbic_fast (exact, int8)"]
    assert len(int8) == ("avx512_vnni" in rbic_fast.build_info()["cpu_features"])
    assert all(r.quality.startswith("identical to fp32: yes") for r in int8)
    knn_all = [r for r in report.rows if r.section == "knn_all"]  # every row through method="auto"
    assert [(r.tool, r.size) for r in knn_all] == [("rbic_fast (exact)", "600 x 384")]  # 600 < the auto threshold
    comm = [r for r in report.rows if r.section == "communities"]
    assert [r.role for r in comm] == ["ours", "baseline"]
    assert all(float(r.quality.split()[-1]) > 0.3 for r in comm)
    parser = [r for r in report.rows if r.section == "parser"]
    assert parser[0].tool.startswith("rbic_fast") and parser[-1].role == "baseline"
    assert parser[0].size.startswith("300 traces")
    md = report.to_markdown()
    assert "| stage | seconds | peak RSS MB |" in md and "vs rbic_fast" in md


def test_bench_cli_rejects_bad_sizes(capsys):
    assert main(["bench", "--n", "1"]) == 2
    assert "need n >= 2" in capsys.readouterr().err


def test_bench_needs_the_corpus_to_fit(tmp_path):
    with pytest.raises(ValueError, match="repeat"):
        run_benchmark(100, workdir=tmp_path, repeat=0)


def test_approx_rows_show_the_int8_join_beside_fp32():
    x, _ = clustered_embeddings(6000, 32, n_clusters=40, seed=3)
    notes: list[str] = []
    rows = _approx_rows(x, threads=1, peers=False, notes=notes)
    tools = [r.tool for r in rows]
    vnni = "avx512_vnni" in rbic_fast.build_info()["cpu_features"]
    assert tools == ["rbic_fast (approx)"] + (["rbic_fast (approx, int8)"] if vnni else [])
    if vnni:
        assert "of list entries as fp32" in rows[1].quality and rows[1].seconds > 0
