"""`rbic refine --strategy NAME` and `rbic compare` on the pipeline's cached stages (precomputed embeddings, so no
embedding model runs; the LM strategies use the tiny LM of conftest)."""

import json

import numpy as np
import pytest
import rbic_fast
from rbic_fast.budget import Budget, take_budget
from rbic_fast.cli import main

pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
import pyarrow.parquet as pq

BASELINES = ["random", "length", "difficulty", "s1", "kcenter", "semdedup"]
SIZES = (60, 20, 10, 6, 4)  # unequal, well separated clusters


def _clustered(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(SIZES), 24)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(len(SIZES)), SIZES)
    emb = centres[labels] + 0.15 / np.sqrt(24) * rng.standard_normal((labels.size, 24)).astype(np.float32)
    recs = [
        {
            "id": f"s{i}",
            "question": f"What is {i} plus {i % 7}?",
            "answer": "First we add. Then we check. " * int(rng.integers(1, 12)) + f"#### {i + i % 7}",
        }
        for i in range(labels.size)
    ]
    return emb.astype(np.float32), labels, recs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("strategies")
    emb, labels, recs = _clustered()
    (root / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    np.save(root / "e.npy", emb)
    return root, labels, recs


def _refine(root, out, *args):
    argv = ["refine", str(root / "d.jsonl"), "-o", str(out), "--embeddings", str(root / "e.npy"), "-q", *args]
    assert main(argv) == 0
    return pq.read_table(out / "scores.parquet").to_pandas(), json.loads((out / "run.json").read_text())


@pytest.mark.parametrize("budget", [["--count", "9"], ["--ratio", "0.2"], ["--token-budget", "0.15"]])
@pytest.mark.parametrize("name", BASELINES)
def test_each_strategy_honours_the_budget_and_is_deterministic(data, tmp_path, name, budget):
    root, _, _ = data
    scores, run = _refine(root, tmp_path / "a", "--strategy", name, *budget)
    again, _ = _refine(root, tmp_path / "b", "--strategy", name, *budget)
    assert run["strategy"] == name and len(scores) == 100
    assert scores["kept"].tolist() == again["kept"].tolist()  # same command, same selection
    # every row has a reason; kept rows are the strategy's, the rest lost to the budget
    assert scores["reason"].notna().all()
    assert (scores["reason"] == np.where(scores["kept"], "kept_strategy", "over_budget")).all()
    # the kept rows are take_budget of the strategy's order, so the budget is met exactly
    order = scores.sort_values("rank")["rank"].index.to_numpy()
    b = {"--count": Budget(count=9), "--ratio": Budget(ratio=0.2), "--token-budget": Budget(token_share=0.15)}[
        budget[0]
    ]
    tokens = scores["tokens"].to_numpy()
    assert (take_budget(order, b, 100, tokens) == scores["kept"].to_numpy()).all()
    if budget[0] == "--count":
        assert scores["kept"].sum() == 9
    elif budget[0] == "--ratio":
        assert scores["kept"].sum() == 20
    else:
        assert tokens[scores["kept"]].sum() <= 0.15 * tokens.sum()
    sel = (tmp_path / "a" / "selected.jsonl").read_text().splitlines()
    assert sorted(json.loads(l)["id"] for l in sel) == sorted(scores.loc[scores.kept, "id"])
    assert f"Strategy `{name}`" in (tmp_path / "a" / "report.md").read_text()


def test_strategies_reuse_the_cached_stages_and_match_the_python_api(data, tmp_path):
    root, _, _ = data
    out = tmp_path / "out"
    _refine(root, out, "--count", "10")
    scores, run = _refine(root, out, "--count", "10", "--strategy", "kcenter")
    assert {"load", "graph"} <= set(run["cached_stages"])
    res = rbic_fast.refine(root / "d.jsonl", count=10, strategy="kcenter", embeddings=str(root / "e.npy"))
    assert res.keep.tolist() == scores["kept"].tolist()
    assert res.summary["reasons"]["kept_strategy"] == 10 and res.summary["reasons"]["kept_quota"] == 0


def test_min_score_excludes_rows_for_every_strategy(data, tmp_path):
    root, _, recs = data
    recs = [{**r, "score": float(i % 2)} for i, r in enumerate(recs)]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    res = rbic_fast.refine(path, count=8, strategy="length", embeddings=str(root / "e.npy"), min_score=1.0,
                           fields="score=score")
    s = res.scores
    assert (s.loc[s.row % 2 == 0, "reason"] == "excluded").all() and not s.loc[s.row % 2 == 0, "kept"].any()
    assert s["kept"].sum() == 8 and (s.loc[s.kept, "rank"] < 8).all()
    odd = s[s.row % 2 == 1]
    assert set(s.loc[s.kept, "id"]) == set(odd.nlargest(8, "tokens", keep="first")["id"])


def test_compare_writes_one_row_per_strategy_with_sane_values(data, tmp_path):
    root, labels, _ = data
    out = tmp_path / "cmp"
    names = "rbic,random,length,kcenter,semdedup"
    argv = ["compare", str(root / "d.jsonl"), "-o", str(out), "--embeddings", str(root / "e.npy"), "--count", "5",
            "--strategies", names, "-q"]
    assert main(argv) == 0
    table = pd.read_csv(out / "compare.csv").set_index("strategy")
    assert list(table.index) == names.split(",")
    assert (table["kept"] == 5).all() and (table["seconds"] >= 0).all()
    assert table["tokens"].idxmax() == "length"
    # five clusters of sizes 60..4: k-center's farthest-first picks one per cluster, random mostly the big one
    assert table.loc["kcenter", "domain_coverage"] > table.loc["random", "domain_coverage"]
    assert table.loc["kcenter", "representativeness"] > table.loc["random", "representativeness"] + 0.05
    assert table.loc["kcenter", "redundancy"] < table.loc["random", "redundancy"]
    assert table[["domain_coverage", "tier_coverage", "cell_coverage"]].apply(lambda c: c.between(0, 1)).all().all()
    assert table["mean_complexity"].between(0, 1).all()
    md = (out / "compare.md").read_text()
    assert md.count("\n| ") == 1 + 5 and "representativeness" in md
    html = (out / "compare.html").read_text()
    assert "<svg" in html and "<table>" in html and 'src="http' not in html
    assert (out / "compare.png").stat().st_size > 1000
    # the same in Python, from the cache
    cmp = rbic_fast.compare.run(root / "d.jsonl", ["kcenter", "random"], count=5, out=out,
                                embeddings=str(root / "e.npy"))
    assert [r.strategy for r in cmp.rows] == ["kcenter", "random"]
    assert cmp.frame().loc["kcenter", "representativeness"] == pytest.approx(table.loc["kcenter", "representativeness"])
    assert int(cmp.keep["kcenter"].sum()) == 5
    assert sorted(labels[cmp.keep["kcenter"]]) == [0, 1, 2, 3, 4]  # one per planted cluster
    assert len(set(labels[cmp.keep["random"]])) < 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["refine", "--strategy", "nope"], "unknown strategy 'nope'; choose one of rbic,"),
        (["refine", "--strategy", "perplexity"], "needs a causal LM: give --lm-model PATH"),
        (["refine", "--strategy", "ifd", "--lm-model", "/nonexistent/lm"], "/nonexistent/lm does not exist"),
        (["compare", "--strategies", "random,bogus"], "unknown strategy 'bogus'"),
        (["compare", "--strategies", "random,influence"], "needs a causal LM"),
        (["compare", "--strategies", "random,random"], "named twice"),
    ],
)
def test_bad_strategy_settings_exit_2_and_write_nothing(data, tmp_path, capsys, args, message):
    root, _, _ = data
    out = tmp_path / "out"
    argv = [args[0], str(root / "d.jsonl"), "-o", str(out), "--embeddings", str(root / "e.npy"), "--count", "5",
            *args[1:]]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_influence_needs_a_validation_file(data, tmp_path, capsys, tiny_lm):
    root, _, _ = data
    out = tmp_path / "out"
    base = ["refine", str(root / "d.jsonl"), "-o", str(out), "--embeddings", str(root / "e.npy"), "--count", "5",
            "--strategy", "influence", "--lm-model", str(tiny_lm)]
    assert main(base) == 2 and "needs validation examples: give --validation FILE" in capsys.readouterr().err
    assert main([*base, "--validation", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err
    bad = tmp_path / "v.jsonl"
    bad.write_text(json.dumps({"question": "1+1?", "answer": "2 #### 2"}) + "\n")
    assert main([*base, "--validation", str(bad), "--validation-field", "ok"]) == 2
    assert "no value in 'ok'" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------------------------------- LM strategies
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """30 records of the clustered set (LM passes on the CPU stay fast), traces longer than the 512 characters
    the load stage keeps."""
    root = tmp_path_factory.mktemp("lm")
    emb, _, recs = _clustered(1)
    keep = np.r_[0:12, 60:70, 80:88]
    rng = np.random.default_rng(5)
    for i in keep:
        recs[i]["answer"] = "Add the numbers. " * 31 + "Then check: " + "ok " * int(rng.integers(1, 60)) + "#### 3"
    (root / "d.jsonl").write_text("".join(json.dumps(recs[i]) + "\n" for i in keep), encoding="utf-8")
    np.save(root / "e.npy", emb[keep])
    return root, [recs[i] for i in keep]


def test_perplexity_and_ifd_use_full_texts_and_cache_the_losses(small, tmp_path, tiny_lm, monkeypatch):
    from rbic_fast import io as rio
    from rbic_fast.strategies import StrategyInput, lm_scores

    root, recs = small
    out = tmp_path / "out"
    lm = ["--lm-model", str(tiny_lm), "--lm-max-length", "400"]
    ppl, _ = _refine(root, out, "--count", "7", "--strategy", "perplexity", *lm)
    assert ppl["kept"].sum() == 7 and list((out / "cache").glob("lm_losses-*.npz"))
    # direct computation on the full records: the 7 lowest answer losses are kept
    model, tok = lm_scores.load_lm(str(tiny_lm), None, "cpu")
    norm = [rio.Normalizer("gsm8k")(r, i) for i, r in enumerate(recs)]
    assert min(len(r.reasoning) for r in norm) > 512
    inp = StrategyInput(ids=[r["id"] for r in recs], question=[r.question for r in norm],
                        reasoning=[r.reasoning for r in norm], response=[r.response for r in norm],
                        tokens=np.ones(len(recs), dtype=np.int64))
    prompts, answers = lm_scores.format_pairs(inp)
    direct = lm_scores.answer_losses(model, tok, prompts, answers, max_length=400)
    expected = np.argsort(direct.conditional, kind="stable")[:7]
    assert sorted(ppl.loc[ppl.kept, "id"]) == sorted(np.array(inp.ids)[expected])
    ifd, run = _refine(root, out, "--count", "7", "--strategy", "ifd", *lm)
    key = np.where(direct.ifd > 1, direct.ifd, -direct.ifd)
    assert sorted(ifd.loc[ifd.kept, "id"]) == sorted(np.array(inp.ids)[np.lexsort((key, direct.ifd > 1))[:7]])

    # a rerun (and perplexity after ifd) takes the losses from the cache: no LM pass
    def no_lm(*a, **kw):
        raise AssertionError("LM losses recomputed despite the cache")

    monkeypatch.setattr(lm_scores, "answer_losses", no_lm)
    again, run = _refine(root, out, "--count", "7", "--strategy", "ifd", *lm)
    assert again["kept"].tolist() == ifd["kept"].tolist() and "lm_losses" in run["cached_stages"]
    assert _refine(root, out, "--count", "7", "--strategy", "perplexity", *lm)[0]["kept"].tolist() == ppl[
        "kept"
    ].tolist()


def test_influence_with_a_validation_field_and_with_graded_generations(small, tmp_path, tiny_lm):
    pytest.importorskip("peft")
    pytest.importorskip("math_verify")
    root, recs = small
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"], "ok": i % 2 == 0}) + "\n"
                           for i, r in enumerate(recs[:6])), encoding="utf-8")
    lm = ["--lm-model", str(tiny_lm), "--lm-max-length", "96", "--influence-dim", "64", "--strategy", "influence"]
    out = tmp_path / "out"
    scores, _ = _refine(root, out, "--count", "6", *lm, "--validation", str(val), "--validation-field", "ok")
    assert scores["kept"].sum() == 6 and list((out / "cache" / "influence").glob("influence-*.features.npy"))
    again, _ = _refine(root, out, "--count", "6", *lm, "--validation", str(val), "--validation-field", "ok")
    assert again["kept"].tolist() == scores["kept"].tolist()
    # without the field, the LM answers each question (the accuracy backend) and math-verify grades it
    out2 = tmp_path / "out2"
    gen, _ = _refine(root, out2, "--ratio", "0.2", *lm, "--validation", str(val), "--max-new-tokens", "4")
    assert gen["kept"].sum() == 6 and list((out2 / "cache").glob("validation-*.npz"))
