"""The SFT layouts on the columnar pass 1: ``<think>`` outputs split column-wise (rbic_fast.io.split_think_column)
give the same records, features, tokens, bad-record reports and selection as the record-by-record path."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
from rbic_fast import io as rio
from rbic_fast.pipeline import Loaded, RefineConfig, load_dataset, refine
from rbic_fast.synthetic import write_corpus

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

THINK = Path(__file__).parent / "data" / "think"
FIXTURES = {
    "r1_distill_sft": THINK / "r1_distill_sft_edges.jsonl",
    "r1_zero_sft": THINK / "r1_zero_sft_edges.jsonl",
}


@pytest.fixture
def record_path(monkeypatch):
    """Forces the record-by-record path (no format splits its ``<think>`` column), as before the columnar one."""

    def force() -> None:
        monkeypatch.setattr(rio.Normalizer, "think_key", property(lambda self: None))

    return force


@pytest.fixture
def columnar(monkeypatch):
    """Counts the rows split by the columnar path."""
    rows = []
    split = rio.split_think_column

    def counting(texts, head_chars):
        rows.append(len(texts))
        return split(texts, head_chars)

    monkeypatch.setattr(rio, "split_think_column", counting)
    return rows


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("synth") / "sft.jsonl", 600, seed=5)


def _parquet(src: Path, folder: Path) -> Path:
    out = folder / (src.stem + ".parquet")
    pq.write_table(
        pa.Table.from_pylist([json.loads(x) for x in src.read_text("utf-8").split("\n") if x]), out
    )
    return out


def _outcomes(norm: rio.Normalizer, raws) -> list:
    """Per raw record: the NormRecord fields, or the error it raises."""
    out = []
    for pos, raw in raws:
        try:
            out.append(vars(norm(raw, pos)))
        except (KeyError, rio.DataError) as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


def test_python_space_is_what_str_strip_removes():
    assert rio._PY_SPACE == "".join(c for c in map(chr, range(0x110000)) if c.isspace())


def test_split_think_column_matches_split_think():
    pieces = [
        "<think>",
        "</think>",
        " ",
        "\n",
        "\r\n",
        "\u3000",
        "\u2028",
        "\x85",
        "\x1c",
        "\u200b",
        "a",
        "中",
        " " * 61,
        "\u3000" * 23,
        "中" * 30,
        "😀",
        "x = 1",
        "\\boxed{3}",
        "<think",
        "think>",
        "</",
        "<",
    ]
    rng = random.Random(0)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))) for _ in range(4000)]
    expected = [rio.split_think(t) for t in texts]
    assert 500 < sum(e is not None for e in expected) < 3500
    for typ in (pa.string(), pa.large_string()):
        arr = pa.array(["pad", *texts], typ).slice(1)  # a sliced array: offsets do not start at 0
        for col in (arr, pa.chunked_array([arr.slice(0, 1500), arr.slice(1500, 0), arr.slice(1500)])):
            reasoning, values = rio.split_think_column(col, 5)
            assert reasoning.type == pa.large_string()
            assert reasoning.to_pylist() == [e[0] if e else "" for e in expected]
            assert values == [rio.ThinkParts(e[0][:5], e[1]) if e else t for t, e in zip(texts, expected)]
    empty = rio.split_think_column(pa.array([], pa.string()), 5)
    assert len(empty[0]) == 0 and empty[1] == []


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_columnar_records_match_record_reads(fmt, kind, tmp_path):
    path = FIXTURES[fmt] if kind == "jsonl" else _parquet(FIXTURES[fmt], tmp_path)
    src = rio.open_source(path)
    old_norm, new_norm = rio.Normalizer(), rio.Normalizer()
    old = _outcomes(old_norm, [(pos, raw) for pos, _, raw in rio.iter_raw(src, rio.BadRecords())])
    new_norm.format = rio.get_format(fmt)
    key = new_norm.think_key
    assert key == {"r1_distill_sft": "output", "r1_zero_sft": "response"}[fmt]
    batches = list(rio.iter_batches(src, rio.BadRecords(), think_key=key, head_chars=16))
    assert all(b.texts is not None for b in batches)  # the columnar path
    assert all(isinstance(r[key], (rio.ThinkParts, str)) for b in batches for r in b.records)
    new = _outcomes(new_norm, [(int(p), r) for b in batches for p, r in zip(b.positions, b.records)])
    texts = [t for b in batches for t in b.texts.to_pylist()]
    assert old_norm.format.name == fmt and len(old) == len(new) == len(texts)
    n_bad = 0
    for o, nw, t in zip(old, new, texts):
        if isinstance(o, tuple):
            n_bad += 1
            assert nw == o
            continue
        assert t == o["reasoning"]  # the parser gets the whole reasoning
        assert nw == {**o, "reasoning": o["reasoning"][:16]}  # response, final answer, tokens: the same
    assert n_bad == {"r1_distill_sft": 7, "r1_zero_sft": 3}[fmt]


def _assert_same_loaded(a: Loaded, b: Loaded) -> None:
    for name in Loaded._STR:
        assert list(getattr(a, name)) == list(getattr(b, name)), name
    for name in Loaded._NUM:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    assert list(a.features) == list(b.features)
    for name in a.features:
        assert np.array_equal(a.features[name], b.features[name]), name
    assert (a.format, a.n_bad, a.bad_examples) == (b.format, b.n_bad, b.bad_examples)


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_load_dataset_same_as_record_path(fmt, kind, tmp_path, record_path, columnar):
    path = FIXTURES[fmt] if kind == "jsonl" else _parquet(FIXTURES[fmt], tmp_path)
    cfg = RefineConfig(ratio=0.5, on_error="skip")
    new = load_dataset(rio.open_source(path), cfg)
    assert (
        sum(columnar) == len(FIXTURES[fmt].read_text("utf-8").split("\n")) - 1
    )  # every record, split column-wise
    with pytest.raises(rio.DataError) as new_fail:
        load_dataset(rio.open_source(path), RefineConfig(ratio=0.5))
    record_path()
    old = load_dataset(rio.open_source(path), cfg)
    with pytest.raises(rio.DataError) as old_fail:
        load_dataset(rio.open_source(path), RefineConfig(ratio=0.5))
    _assert_same_loaded(new, old)
    assert str(new_fail.value) == str(old_fail.value) and "empty reasoning" in str(new_fail.value)
    assert new.n_bad > 0 and (new.lang == "zh").any() and (new.tokens > 0).all()


def _r1_zero(rec: dict) -> dict:
    """A synthetic SFT record in the r1_zero layout (prompt / response with </think> <answer> / ground_truth)."""
    reasoning, answer = rio.split_think(rec["output"])
    return {
        "id": rec["id"],
        "prompt": f"A conversation.\n\nUser: {rec['instruction']}\nAssistant: <think>",
        "response": f" {reasoning} </think> <answer> {rio.last_boxed(answer)} </answer>",
        "ground_truth": rio.last_boxed(answer),
        "accuracy": rec["accuracy"],
    }


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
def test_synthetic_corpus_with_bad_lines_same_as_record_path(
    fmt, synth, tmp_path, monkeypatch, record_path, columnar
):
    recs = [json.loads(x) for x in synth.path.read_bytes().splitlines()]
    if fmt == "r1_zero_sft":
        recs = [_r1_zero(r) for r in recs]
    key = {"r1_distill_sft": "output", "r1_zero_sft": "response"}[fmt]
    del recs[300][key]  # a missing field (its chunk is read line by line)
    recs[450][key] = recs[450][key].replace(
        "</think>", ""
    )  # no reasoning (a bad record on the columnar path)
    lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in recs]
    lines[10] = lines[10][:-20] + b"\n"  # malformed JSON
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    monkeypatch.setattr(rio, "JSONL_BATCH_BYTES", 200 << 10)  # several chunks, some columnar and some not
    kinds = [
        b.texts is not None for b in rio.iter_batches(rio.open_source(path), rio.BadRecords(), think_key=key)
    ]
    assert len(kinds) > 4 and any(kinds) and not all(kinds)
    columnar.clear()
    cfg = RefineConfig(ratio=0.5, on_error="skip", accuracy_field="accuracy")
    new = load_dataset(rio.open_source(path), cfg)
    assert new.format == fmt and 0 < sum(columnar) < synth.n
    record_path()
    old = load_dataset(rio.open_source(path), cfg)
    _assert_same_loaded(new, old)
    assert [loc.rsplit(":", 1)[1] for loc, _ in new.bad_examples] == ["11", "301", "451"]
    assert (new.lang == "zh").any() and len(new) == synth.n - 3


def test_refine_selects_the_same_as_record_path(synth, tmp_path, record_path, columnar):
    kw = {"ratio": 0.16, "embeddings": str(synth.embeddings_path), "accuracy_field": "accuracy", "k": 8}
    new = refine(synth.path, out=tmp_path / "new", **kw)
    assert sum(columnar) == synth.n
    record_path()
    old = refine(synth.path, out=tmp_path / "old", **kw)
    assert new.keep.sum() == round(0.16 * synth.n)
    assert np.array_equal(new.keep, old.keep) and new.scores.equals(old.scores)
    assert (tmp_path / "new" / "selected.jsonl").read_bytes() == (
        tmp_path / "old" / "selected.jsonl"
    ).read_bytes()


def test_think_key_only_when_nothing_else_reads_the_output():
    assert rio.Normalizer("r1_distill_sft").think_key == "output"
    assert rio.Normalizer("alpaca").think_key == "output"
    assert rio.Normalizer("r1_zero_sft").think_key == "response"
    assert rio.Normalizer("r1_distill_raw").think_key is None  # the reasoning is a column of its own
    assert rio.Normalizer("messages").think_key is None
    assert rio.Normalizer().think_key is None  # not detected yet
    assert rio.Normalizer("r1_distill_sft", {"reasoning": "output"}).think_key is None
    assert rio.Normalizer("r1_distill_sft", {"answer": "output.x"}).think_key is None
    assert rio.Normalizer("r1_distill_sft", accuracy_field="output").think_key is None
    assert rio.Normalizer("r1_distill_sft", {"answer": "gold"}, accuracy_field="acc").think_key == "output"
    with pytest.raises(ValueError, match="not both"):
        next(
            rio.iter_batches(
                rio.open_source(FIXTURES["r1_zero_sft"]), rio.BadRecords(), text_key="a", think_key="response"
            )
        )
