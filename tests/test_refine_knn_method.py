"""The pipeline's kNN method (exact / approx / auto) and its per-stage time and memory table."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rbic_fast
from rbic_fast.cli import main
from rbic_fast.synthetic import write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    write_corpus(d / "c.jsonl", 1500, seed=3, embeddings_path=d / "c.npy")
    return d / "c.jsonl", d / "c.npy"


def _run(corpus, out, **kw):
    path, emb = corpus
    return rbic_fast.refine(str(path), ratio=0.2, out=out, embeddings=str(emb), accuracy_field="accuracy", **kw)


def test_approx_graph_is_reported_and_close_to_exact(corpus, tmp_path):
    exact = _run(corpus, tmp_path / "exact", knn_method="exact")
    approx = _run(corpus, tmp_path / "approx", knn_method="approx")
    assert exact.summary["knn_graph"] == {"method": "exact", "recall_estimate": None}
    est = approx.summary["knn_graph"]
    assert est["method"] == "approx" and 0.9 <= est["recall_estimate"] <= 1.0
    assert "approximate kNN graph (estimated recall@k" in (tmp_path / "approx" / "report.md").read_text()
    # the selections agree on most records (a few neighbours differ, so a few domain/duplicate decisions may)
    overlap = (exact.keep & approx.keep).sum() / exact.keep.sum()
    assert overlap > 0.8
    # the graph stage is cached per method: a rerun reads it back with its recall
    again = _run(corpus, tmp_path / "approx", knn_method="approx")
    assert "graph" in again.summary["cached_stages"]
    assert again.summary["knn_graph"] == est
    assert np.array_equal(again.keep, approx.keep)


def test_int8_graph_gives_the_fp32_selection(corpus, tmp_path):
    """knn_precision="int8" returns the fp32 graph itself, so the whole selection is the same."""
    fp32 = _run(corpus, tmp_path / "fp32", knn_method="exact")
    int8 = _run(corpus, tmp_path / "int8", knn_method="exact", knn_precision="int8")
    assert int8.summary["settings"]["knn_precision"] == "int8"
    assert np.array_equal(int8.keep, fp32.keep)
    assert (tmp_path / "int8" / "selected.jsonl").read_bytes() == (tmp_path / "fp32" / "selected.jsonl").read_bytes()
    with pytest.raises(ValueError, match="knn_precision must be"):
        _run(corpus, tmp_path / "x", knn_precision="fp64")


def test_approx_int8_graph_runs_and_reports_its_recall(corpus, tmp_path):
    fp32 = _run(corpus, tmp_path / "fp32", knn_method="approx")
    int8 = _run(corpus, tmp_path / "int8", knn_method="approx", knn_precision="int8")
    est = int8.summary["knn_graph"]
    assert est["method"] == "approx" and 0.9 <= est["recall_estimate"] <= 1.0
    assert est["recall_estimate"] >= fp32.summary["knn_graph"]["recall_estimate"] - 0.01
    assert (int8.keep & fp32.keep).sum() / fp32.keep.sum() > 0.9


def test_auto_is_exact_below_the_threshold(corpus, tmp_path):
    res = _run(corpus, tmp_path / "auto")  # 1500 records < AUTO_APPROX_MIN_ROWS
    assert res.summary["settings"]["knn_method"] == "auto"
    assert res.summary["knn_graph"]["method"] == "exact"


def test_run_json_has_time_and_peak_memory_per_stage(corpus, tmp_path):
    _run(corpus, tmp_path / "o", knn_method="exact")
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    stages = run["stages"]
    assert list(stages) == ["load", "embed", "graph", "accuracy", "contribution", "select", "write"]
    for name, row in stages.items():
        assert row["seconds"] >= 0, name
        assert 30 < row["peak_rss_mb"] <= run["peak_rss_mb"] + 1, name
    assert run["timings_s"]["write"] == stages["write"]["seconds"]


def test_bad_method_and_approx_with_bf16_are_refused(corpus, tmp_path, capsys):
    path, emb = corpus
    with pytest.raises(ValueError, match="knn_method must be"):
        _run(corpus, tmp_path / "x", knn_method="hnsw")
    code = main(["refine", str(path), "-o", str(tmp_path / "y"), "--ratio", "0.2", "--embeddings", str(emb),
                 "--knn-method", "approx", "--knn-precision", "bf16"])
    assert code == 2 and "scores in fp32 or int8" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
