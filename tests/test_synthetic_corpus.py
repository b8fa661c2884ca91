"""The synthetic R1-style corpus generator (rbic_fast.synthetic.write_corpus) and `rbic synth`."""

import hashlib
import json

import numpy as np
import pytest
from rbic_fast import io as rio
from rbic_fast.cli import main
from rbic_fast.steps import parse_traces
from rbic_fast.synthetic import write_corpus

pq = pytest.importorskip("pyarrow.parquet")

SFT_KEYS = {
    "id",
    "instruction",
    "input",
    "output",
    "repo_name",
    "prompt_tokens_len",
    "reasoning_content_tokens_len",
    "content_tokens_len",
    "score",
    "accuracy",
}
RAW_KEYS = SFT_KEYS - {"instruction", "input", "output"} | {"input", "reasoning_content", "content"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """3000 records at the default settings, with their parsed records and ground truth."""
    info = write_corpus(tmp_path_factory.mktemp("synth") / "c.jsonl", 3000, seed=7)
    with open(info.path, "rb") as fh:
        records = [json.loads(line.decode("utf-8")) for line in fh]
    labels = pq.read_table(info.labels_path).to_pandas()
    return info, records, labels


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _think(record):
    reasoning, _ = rio.split_think(record["output"])
    return reasoning


def adjusted_rand(a, b):
    """Adjusted Rand index from the contingency table (Hubert & Arabie)."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(table, (ai, bi), 1)

    def pairs(x):
        return (x * (x - 1) / 2).sum()

    n_pairs = len(a) * (len(a) - 1) / 2
    index, rows, cols = pairs(table), pairs(table.sum(1)), pairs(table.sum(0))
    expected = rows * cols / n_pairs
    return (index - expected) / ((rows + cols) / 2 - expected)


def test_records_are_valid_r1_sft_json_with_the_fields(corpus):
    info, records, labels = corpus
    assert info.n == len(records) == len(labels) == 3000
    assert info.bytes == info.path.stat().st_size
    assert len({r["id"] for r in records}) == 3000
    norm = rio.Normalizer(accuracy_field="accuracy")
    for i, r in enumerate(records):
        assert set(r) == SFT_KEYS
        assert r["output"].startswith("<think>\n") and "\n</think>\n\n" in r["output"]
        reasoning, response = rio.split_think(r["output"])
        assert len(reasoning) == labels.reasoning_chars[i]
        assert rio.last_boxed(response)  # the answer after </think> ends in \boxed{...}
        assert "«" not in r["output"] + r["instruction"]  # every template slot was filled
        assert r["accuracy"] * 8 == round(r["accuracy"] * 8) and 0 <= r["accuracy"] <= 1
        assert r["accuracy"] == pytest.approx(labels.accuracy[i])
        rec = norm(r, i)
        assert (
            rec.accuracy == r["accuracy"] and rec.reasoning == reasoning and rec.question == r["instruction"]
        )
        assert (
            rec.tokens == r["prompt_tokens_len"] + r["reasoning_content_tokens_len"] + r["content_tokens_len"]
        )
    assert norm.format.name == "r1_distill_sft"
    x = np.load(info.embeddings_path, mmap_mode="r")
    assert x.shape == (3000, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert set(labels.domain_name.unique()) <= set(info.domain_names)
    assert (labels.domain_name.astype(str).to_numpy() == np.asarray(info.domain_names)[labels.domain]).all()


def test_raw_format_is_detected(tmp_path):
    info = write_corpus(tmp_path / "raw.jsonl", 50, record_format="raw", seed=1)
    norm = rio.Normalizer()
    with open(info.path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            r = json.loads(line)
            assert set(r) == RAW_KEYS and "<think>" not in r["reasoning_content"]
            assert norm(r, i).reasoning == r["reasoning_content"]
    assert norm.format.name == "r1_distill_raw"


def test_refine_recovers_the_planted_domains(corpus, tmp_path):
    """End to end through the loader, kNN graph and Leiden with the precomputed embeddings and the accuracy field.

    Thresholds: 10% of the records are bridge records whose embedding leans towards another domain with weight
    U(0.25, 0.65), so ~4% sit closer to another domain and purity cannot exceed ~0.96 (measured 0.96-0.97 over
    seeds, ARI 0.85-0.94). ARI > 0.7 rules out Leiden stopping at the 40 subtopics (ARI ~0.4 against domains)
    or merging domains; purity > 0.9 rules out communities mixing domains.
    """
    from rbic_fast import refine

    info, _, labels = corpus
    res = refine(
        str(info.path),
        ratio=0.2,
        out=tmp_path / "out",
        embeddings=str(info.embeddings_path),
        accuracy_field="accuracy",
        quiet=True,
    )
    found = res.scores["domain"].to_numpy()
    truth = labels.domain.to_numpy()
    ari = adjusted_rand(truth, found)
    table = np.zeros((found.max() + 1, truth.max() + 1))
    np.add.at(table, (found, truth), 1)
    purity = table.max(axis=1).sum() / len(truth)
    assert ari > 0.7 and purity > 0.9, (ari, purity)
    assert ari < 0.999  # bridge records make it non-trivial
    np.testing.assert_allclose(res.scores["accuracy"].to_numpy(), labels.accuracy.to_numpy())
    assert res.keep.sum() == 600


def test_language_duplicate_shares_and_length_distribution(tmp_path):
    info = write_corpus(tmp_path / "c.jsonl", 6000, seed=3, zh_share=0.3, dup_share=0.05)
    lab = pq.read_table(info.labels_path).to_pandas()
    zh = (lab.lang == "zh").to_numpy()
    dup = (lab.dup_of >= 0).to_numpy()
    # binomial standard deviations at n = 6000: 0.006 (zh) and 0.003 (dup); tolerances are ~4-5 sd
    assert abs(zh.mean() - 0.3) < 0.025 and info.n_zh == zh.sum()
    assert abs(dup.mean() - 0.05) < 0.012 and info.n_dup == dup.sum()
    chars = lab.reasoning_chars.to_numpy()
    en = chars[~zh]
    # log-normal, median 1500, sigma 1: mean/median = exp(1/2) = 1.65 (the sample median's sd is ~2.5%)
    assert 1300 < np.median(en) < 1700
    assert 1.4 < en.mean() / np.median(en) < 1.95
    assert chars.max() <= 40_000 and en.min() > 150 and chars[zh].min() > 60
    # Chinese traces have 0.4x the characters (about the same tokens)
    assert 0.3 < np.median(chars[zh]) / np.median(en) < 0.5
    # harder records: fewer correct rollouts, longer traces
    hard = lab.difficulty > lab.difficulty.median()
    assert lab.accuracy[hard].mean() < lab.accuracy[~hard].mean() - 0.3
    assert np.median(chars[~zh & hard]) > 1.5 * np.median(chars[~zh & ~hard])
    # the length knobs do what they say
    small = write_corpus(tmp_path / "s.jsonl", 1500, seed=3, median_chars=3000, max_chars=5000, zh_share=0.0)
    sc = pq.read_table(small.labels_path).column("reasoning_chars").to_numpy()
    assert 2600 < np.median(sc) < 3400 and sc.max() <= 5000


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_native_parser_features_react_to_difficulty(corpus, lang):
    _, records, labels = corpus
    rows = np.flatnonzero((labels.lang == lang).to_numpy())
    feats = parse_traces([_think(records[i]) for i in rows])
    diff = labels.difficulty.to_numpy()[rows]
    easy, hard = diff < np.quantile(diff, 1 / 3), diff > np.quantile(diff, 2 / 3)
    kchars = feats.n_chars / 1000
    for name in ("n_backtrack", "n_verify", "n_explore"):
        counts = getattr(feats, name)
        assert counts[hard].mean() > 1.5 * counts[easy].mean(), name
        assert (counts / kchars)[hard].mean() > 1.3 * (counts / kchars)[easy].mean(), name
    assert feats.n_steps[hard].mean() > feats.n_steps[easy].mean()
    assert feats.n_equations[hard].mean() > feats.n_equations[easy].mean()
    assert (feats.lang == lang).mean() > 0.95


def test_near_duplicates_are_light_edits_with_near_identical_embeddings(corpus):
    info, records, labels = corpus
    x = np.load(info.embeddings_path)
    dup = np.flatnonzero(labels.dup_of.to_numpy() >= 0)
    src = labels.dup_of.to_numpy()[dup]
    assert len(dup) > 40 and (src < dup).all() and (labels.dup_of.to_numpy()[src] == -1).all()
    cos = (x[dup] * x[src]).sum(axis=1)
    assert cos.min() > 0.95
    for i, j in zip(dup, src):
        a, b = records[i], records[j]
        assert a["instruction"] != b["instruction"] and b["instruction"] in a["instruction"]
        ta, tb = _think(a).split("\n\n"), _think(b).split("\n\n")
        assert (
            len(ta) == len(tb) and sum(p != q for p, q in zip(ta, tb)) <= 3
        )  # opening, one paragraph, conclusion
        assert labels.domain[i] == labels.domain[j] and labels.difficulty[i] == labels.difficulty[j]
    # originals are not near-duplicates of each other
    orig = np.flatnonzero(labels.dup_of.to_numpy() < 0)[:1500]
    sims = x[orig] @ x[orig].T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.95


def test_deterministic_chunk_size_independent_and_prefix_stable(tmp_path):
    a = write_corpus(tmp_path / "a.jsonl", 2100, seed=11, d=32)
    b = write_corpus(tmp_path / "b.jsonl", 2100, seed=11, d=32, chunk_size=1)
    c = write_corpus(tmp_path / "c.jsonl", 2100, seed=11, d=32, chunk_size=777)
    for other in (b, c):
        assert _sha(a.path) == _sha(other.path)
        assert _sha(a.embeddings_path) == _sha(other.embeddings_path)
        assert pq.read_table(a.labels_path).equals(pq.read_table(other.labels_path))
    diff = write_corpus(tmp_path / "d.jsonl", 300, seed=12, d=32)
    assert not a.path.read_bytes().startswith(diff.path.read_bytes())
    short = write_corpus(tmp_path / "e.jsonl", 1100, seed=11, d=32)
    assert a.path.read_bytes().startswith(short.path.read_bytes())
    np.testing.assert_array_equal(np.load(a.embeddings_path)[:1100], np.load(short.embeddings_path))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be"),
        ({"n": 2.5}, "n must be"),
        ({"d": 4}, "d must be"),
        ({"n_domains": 11}, "n_domains"),
        ({"n_domains": 0}, "n_domains"),
        ({"zh_share": 1.5}, "zh_share"),
        ({"dup_share": -0.1}, "dup_share"),
        ({"median_chars": 50}, "median_chars"),
        ({"max_chars": 1000}, "max_chars"),
        ({"length_sigma": -1}, "length_sigma"),
        ({"noise": -1}, "noise"),
        ({"dup_noise": 0.5}, "dup_noise"),
        ({"mix_share": 2}, "mix_share"),
        ({"record_format": "csv"}, "record_format"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"path": "c.txt"}, "jsonl"),
        ({"embeddings_path": "e.bin"}, ".npy"),
        ({"labels_path": "c.jsonl"}, "different"),
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, kwargs, match):
    args = {"path": "c.jsonl", "n": 10, **kwargs}
    path = tmp_path / args.pop("path")
    for key in ("embeddings_path", "labels_path"):
        if key in args:
            args[key] = tmp_path / args[key]
    with pytest.raises(ValueError, match=match):
        write_corpus(path, **args)
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    assert main(["synth", str(out), "--n", "300", "--seed", "2", "--zh-share", "0.5", "-q"]) == 0
    assert "300 records" in capsys.readouterr().out
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 and np.load(tmp_path / "s.npy").shape == (300, 384)
    assert pq.read_table(tmp_path / "s.labels.parquet").num_rows == 300
    ref = write_corpus(tmp_path / "r.jsonl", 300, seed=2, zh_share=0.5)
    assert ref.path.read_bytes() == out.read_bytes()
    assert main(["synth", str(tmp_path / "bad.jsonl"), "--n", "0", "-q"]) == 2
    assert "n must be" in capsys.readouterr().err
