"""The streaming pass 1 (issue 8): batched pyarrow reads, packed text columns, bounded memory, same selection as
the in-memory path."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rbic_fast
from rbic_fast import io as rio
from rbic_fast.columns import TextColumn, TextColumnWriter
from rbic_fast.pipeline import RefineConfig, lang_and_tokens, load_dataset, refine
from rbic_fast.select import id_order_key

pa = pytest.importorskip("pyarrow")
ROOT = Path(__file__).resolve().parents[1]
R1 = ROOT / "examples" / "r1_mmlupro_pcmb_120.jsonl"
R1_EMB = ROOT / "examples" / "r1_mmlupro_pcmb_120.minilm.npy"


def _records() -> list[dict]:
    recs = [json.loads(line) for line in R1.read_text(encoding="utf-8").splitlines()]
    for i, r in enumerate(recs):
        r["accuracy"] = (i % 9) / 8
        r["mixed"] = i if i % 2 else i + 0.5
    return recs


def _write_jsonl(path: Path, recs: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")


def _run(data, out, **kw):
    return refine(data, ratio=0.16, out=out, embeddings=str(R1_EMB), accuracy_field="accuracy", k=8, **kw)


def test_text_column_round_trip(tmp_path):
    texts = ["a", "", "中文 text", "x" * 1000, "😀"]
    for folder in (None, tmp_path):
        w = TextColumnWriter(folder, "t")
        w.append(texts[:2])
        w.append(pa.array(texts[2:] + [None]).slice(0, 3))
        col = w.finish()
        assert list(col) == texts and col[2] == "中文 text" and col[-1] == "😀" and len(col) == 5
        assert col.take([4, 0]) == ["😀", "a"] and col.to_arrow(1, 3).to_pylist() == texts[1:3]
        assert col.byte_lengths().tolist() == [len(t.encode()) for t in texts]
    assert isinstance(col.blob, np.memmap)  # the spilled column is memory-mapped, not read into memory
    assert TextColumn.load(tmp_path, "t") == texts


def test_lang_and_tokens_match_the_per_record_definitions():
    rng = np.random.default_rng(0)
    alphabet = list("ab cd1 2=é") + ["中", "文", "\u3400", "\u4dbf", "\u33ff", "\u9fff", "\ua000", "\uf900",
                                       "\ufaff", "\ufb00", "😀", "\u3000"]

    def text(n: int) -> str:  # each text its own share of non-ASCII characters, so both languages occur
        p = np.full(len(alphabet), 1.0)
        p[10:] = rng.uniform(0, 0.3)
        return "".join(rng.choice(alphabet, n, p=p / p.sum()))

    qs = [text(rng.integers(1, 60)) for _ in range(2000)]
    heads = [text(rng.integers(0, 700))[:512] for _ in range(2000)]
    n_reason = rng.integers(0, 5000, 2000)
    stated = np.where(rng.random(2000) < 0.2, 77, -1)
    lang, tokens = lang_and_tokens(qs, heads, n_reason, np.full(2000, 9), stated)
    exp_lang = [rio.detect_lang(q + h[:500]) for q, h in zip(qs, heads)]
    exp_tok = [
        s if s >= 0 else rio.estimate_tokens(q, lg) + rio.estimate_tokens("r" * nr, lg) + rio.estimate_tokens("x" * 9, lg)
        for q, lg, nr, s in zip(qs, exp_lang, n_reason.tolist(), stated.tolist())
    ]
    assert lang.tolist() == exp_lang and 200 < (lang == "zh").sum() < 1900
    assert tokens.tolist() == exp_tok


def test_id_order_key_vectorised_matches_python_sort():
    ids = ["b", "a", "ä", "B", "a", "10", "9"]
    col = TextColumn.from_strings(ids)
    exp = np.argsort(np.argsort(np.array(ids, dtype=object), kind="stable"), kind="stable")
    assert id_order_key(col).tolist() == id_order_key(ids).tolist() == exp.tolist()
    num = ["10", "9", "0009", "123456789012345678901234", "7"]
    assert id_order_key(num).tolist() == [3, 1, 2, 4, 0]  # numerically, ties by position


def test_jsonl_batches_equal_line_reads(tmp_path):
    recs = _records()
    path = tmp_path / "r.jsonl"
    _write_jsonl(path, recs)
    src = rio.open_source(path)
    batches = list(rio.iter_batches(src, rio.BadRecords(), text_key="reasoning", batch_bytes=64 << 10))
    assert len(batches) > 3 and all(b.texts is not None for b in batches)  # the pyarrow path, several chunks
    assert np.concatenate([b.positions for b in batches]).tolist() == list(range(len(recs)))
    whole = [t for b in batches for t in b.texts.to_pylist()]
    assert whole == [r["reasoning"] for r in recs]
    got = [r for b in batches for r in b.records]
    assert [g["reasoning"] for g in got] == [r["reasoning"][:512] for r in recs]
    assert [g["accuracy"] for g in got] == [r["accuracy"] for r in recs]
    # a column mixing JSON ints and floats is read as floats by pyarrow; its ints come back as int
    assert [(g["mixed"], type(g["mixed"])) for g in got] == [(r["mixed"], type(r["mixed"])) for r in recs]


def test_bad_lines_fall_back_to_the_exact_reader(tmp_path):
    recs = _records()[:20]
    lines = [json.dumps(r) for r in recs]
    lines[3] = lines[3][:-5]  # malformed
    lines[7] = ""  # blank lines keep the numbering
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = rio.BadRecords()
    batches = list(rio.iter_batches(rio.open_source(path), bad, text_key="reasoning"))
    pos = np.concatenate([b.positions for b in batches]).tolist()
    assert pos == [i for i in range(20) if i not in (3, 7)]
    assert bad.count == 1 and bad.items[0][0] == f"{path}:4" and "malformed JSON" in bad.items[0][1]
    cfg = RefineConfig(ratio=0.16, on_error="fail")
    with pytest.raises(rio.DataError, match=r"r\.jsonl:4: malformed JSON"):
        load_dataset(rio.open_source(path), cfg)


def test_streaming_and_in_memory_select_the_same(tmp_path):
    recs = _records()
    path = tmp_path / "r.jsonl"
    _write_jsonl(path, recs)
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "r.parquet")
    mem = _run(recs, None)
    for data in (path, tmp_path / "r.parquet"):
        res = _run(data, tmp_path / f"out-{data.suffix}")
        assert np.array_equal(res.keep, mem.keep)
        assert res.scores.equals(mem.scores), data
    assert mem.keep.sum() == round(0.16 * len(recs))


def test_two_runs_select_the_same(tmp_path):
    recs = _records()
    path = tmp_path / "r.jsonl"
    _write_jsonl(path, recs)
    a = _run(path, tmp_path / "a")
    b = _run(path, tmp_path / "b")
    c = _run(path, tmp_path / "a")  # from the cache: the memory-mapped load folder and embeddings
    assert "load" in c.summary["cached_stages"]
    for r in (b, c):
        assert np.array_equal(a.keep, r.keep) and a.scores.equals(r.scores)
    assert (tmp_path / "a" / "selected.jsonl").read_bytes() == (tmp_path / "b" / "selected.jsonl").read_bytes()


_CHILD = textwrap.dedent(
    """
    import json, sys
    import rbic_fast
    from rbic_fast import io as rio
    from rbic_fast.pipeline import refine

    def status(key):
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(key))

    mode, corpus, emb, out = sys.argv[1:5]
    rio.JSONL_BATCH_BYTES = 1 << 20
    # warm-up on the first 300 records: every import and allocator pool of the pipeline is in place before the
    # baseline is taken
    refine(corpus[:-6] + "-small.jsonl", ratio=0.16, out=out + "-small", embeddings=emb[:-4] + "-small.npy",
           accuracy_field="accuracy", k=8)
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
        fh.write("5")
    base = status("VmRSS:")
    data = corpus if mode == "stream" else [json.loads(l) for l in open(corpus, encoding="utf-8")]
    res = refine(data, ratio=0.16, out=out, embeddings=emb, accuracy_field="accuracy", k=8)
    print(json.dumps({"base_kib": base, "peak_kib": status("VmHWM:"), "kept": int(res.keep.sum())}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS is read from Linux /proc")
def test_streaming_memory_stays_below_the_corpus_size(tmp_path):
    # The child's peak is VmHWM, reset after a warm-up (ru_maxrss would not do: Linux carries it over from the
    # forking pytest process).
    # 16,000 records with 6 KB traces: 100 MB of text. A pass 1 that held the texts would grow by at least that
    # (Python str: 1 byte per ASCII character plus ~50 bytes per object); the streaming pass 1 holds a 1 MB chunk,
    # its pyarrow table and heads (a few MB), and per record only ids, positions, numbers, features (15 x 8 bytes)
    # and 512-character heads spilled to disk: the cap of 60 MB above the post-import baseline leaves room for
    # the graph, selection and output stages (~ 5 KB per record at most here) and allocator slack.
    n = 16000
    rng = np.random.default_rng(0)
    words = np.array(["so", "we", "add", "the", "two", "numbers", "then", "check", "the", "result", "again", "wait", "let", "us", "verify", "step"])
    corpus = tmp_path / "big.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for i in range(n):
            trace = " ".join(rng.choice(words, 1200)) + f" = {i}"
            fh.write(json.dumps({"id": f"r{i}", "question": f"What is {i} plus {i % 97}?", "reasoning": trace,
                                 "answer_text": str(i), "accuracy": float(rng.random())}) + "\n")
    size_mib = corpus.stat().st_size / 2**20
    emb = tmp_path / "big.npy"
    x = rng.standard_normal((n, 16)).astype(np.float32)
    np.save(emb, x / np.linalg.norm(x, axis=1, keepdims=True))
    with open(corpus, encoding="utf-8") as fh:
        (tmp_path / "big-small.jsonl").write_text("".join(next(fh) for _ in range(300)), encoding="utf-8")
    np.save(tmp_path / "big-small.npy", np.load(emb)[:300])
    cap_mib = 60
    assert size_mib > 1.5 * cap_mib

    def child(mode: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, mode, str(corpus), str(emb), str(tmp_path / f"out-{mode}")],
            capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "PYTHONPATH": str(Path(rbic_fast.__file__).resolve().parents[1])},  # this package
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    stream = child("stream")
    assert stream["kept"] == round(0.16 * n)
    grew = (stream["peak_kib"] - stream["base_kib"]) / 1024
    assert grew < cap_mib, f"streaming refine grew by {grew:.0f} MiB (cap {cap_mib}, corpus {size_mib:.0f} MiB)"
    held = child("memory")  # the same run with every record in memory first: the measurement can tell them apart
    held_grew = (held["peak_kib"] - held["base_kib"]) / 1024
    print(f"refine grew by {grew:.0f} MiB streaming, {held_grew:.0f} MiB from records in memory")
    assert held_grew > cap_mib


def test_chunks_pyarrow_would_read_differently_take_the_exact_path(tmp_path):
    recs = _records()[:6]
    recs[2] = {k: v for k, v in recs[2].items() if k != "subject"}  # a missing key (pyarrow: null)
    recs[4]["meta"] = {"a": 1}  # a nested object (pyarrow: a struct with the keys of every row)
    path = tmp_path / "r.jsonl"
    _write_jsonl(path, recs)
    batches = list(rio.iter_batches(rio.open_source(path), rio.BadRecords(), text_key="reasoning"))
    assert [b.texts for b in batches] == [None]
    assert [r for b in batches for r in b.records] == recs
