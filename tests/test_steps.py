"""Trace parser: golden traces, native == reference on real data and generated text, bad input, API contract."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import rbic_fast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from native_contract import assert_interruptible, assert_releases_gil
from rbic_fast import _core, reference
from rbic_fast.steps import FEATURE_COLUMNS, TraceFeatures, _encode_list, _parser, prepare_text

DATA = Path(__file__).parent / "data" / "steps"
sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from steps_corpus import dataset_texts

GOLDEN = json.loads((DATA / "golden.json").read_text(encoding="utf-8"))["traces"]


def assert_same(native: TraceFeatures, ref: TraceFeatures, texts=None) -> None:
    assert len(native) == len(ref)
    for name, col in native.columns().items():
        other = getattr(ref, name)
        bad = np.flatnonzero(col != other)
        where = f" (first text {texts[bad[0]]!r:.200})" if texts is not None and len(bad) else ""
        assert not len(bad), f"{name}: native {col[bad[:5]]} != reference {other[bad[:5]]} at rows {bad[:5]}{where}"


# --- golden, hand-annotated ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
@pytest.mark.parametrize("impl", [rbic_fast, reference], ids=["native", "reference"])
def test_golden_trace(case, impl):
    assert impl.steps(case["text"]) == case["steps"]
    got = impl.parse_traces([case["text"]])
    for name, want in case["features"].items():
        value = getattr(got, name)[0]
        if name == "redundancy":
            assert value == pytest.approx(want, abs=1e-7), name
        else:
            assert value == want, f"{name}: got {value}, want {want} ({case['note']})"


def test_think_region_and_lang():
    text = "Question? <think>Wait, 1+1=2.</think> Answer: 答案是2"
    f = rbic_fast.parse_traces([text, "只有中文，没有英文。", "English and 中文 mixed text here", ""])
    assert f.n_chars[0] == len("Wait, 1+1=2.")
    assert f.n_backtrack[0] == 1 and f.n_conclusion[0] == 0  # 答案是 is outside the think part
    assert list(f.lang) == ["en", "zh", "mixed", "en"]
    assert rbic_fast.steps("<think>unclosed\n\nstill thinking") == ["unclosed", "still thinking"]


def test_disambiguation_rules():
    f = rbic_fast.parse_traces(["苹果、香蕉等等。", "好。等等，不对。", "即使如此", "立即出发", "即x=2",
                                "I think so.", "So x=1.", "设长方形为a", "假设", "Steps; then so on"])
    assert list(f.n_backtrack[:2]) == [0, 2]  # 等等 as "etc." vs clause-initial; 不对
    assert list(f.n_causal[2:5]) == [0, 0, 1]
    assert list(f.n_causal[5:7]) == [0, 1]  # so only sentence-initially
    assert list(f.n_explore[7:9]) == [1, 1]
    assert f.n_connectives[9] == 1  # 'Steps' is no 'step'; 'then' counts; 'so' after a space does not


# --- native == reference -----------------------------------------------------------------------------------


def test_fixture_excerpts_cover_every_dataset():
    folders = {p.name for p in DATA.iterdir() if p.is_dir()}
    assert folders >= {"gsm8k", "aqua_rat", "ape210k", "math23k", "svamp", "asdiv", "math_test4500",
                       "math_r1_sft_cs336", "r1_mmlupro_pcmb", "r1_bangla_mmlu"}


def test_native_matches_reference_on_dataset_excerpts():
    rows = list(dataset_texts(DATA))
    assert len(rows) > 500
    texts = [t for _, _, t in rows]
    assert_same(rbic_fast.parse_traces(texts), reference.parse_traces(texts), texts)
    for t in texts:
        assert rbic_fast.steps(t) == reference.steps(t)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RBIC_STEPS_FULL_DATA"), reason="set RBIC_STEPS_FULL_DATA=/path/to/shared/data")
def test_native_matches_reference_on_full_datasets():
    texts = [t for _, _, t in dataset_texts(os.environ["RBIC_STEPS_FULL_DATA"])]
    assert_same(rbic_fast.parse_traces(texts), reference.parse_traces(texts), texts)


FRAGMENTS = [
    "\n", "\n\n", "\r\n", "\r", " ", "\t", "\u3000", "\xa0", ". ", "。", "！", "？", "，", ",", "!", "?", "$", "$$",
    "\\[", "\\]", "\\(", "\\)", "\\\\", "\\$", "<<", ">>", "<<3*4=12>>", "=", "==", "<=", "=>", "x", "x_1", "y_{2}",
    "2y", "3.14", "12", "Step 3", "3. ", "第三步", "#", "**", "So", "so", "Wait", "but wait", "Hmm", "check", "THEREFORE",
    "let's try", "let’s", "等等", "等等，", "嗯", "啊", "即", "即使", "故事", "设x为", "设 ab =", "综上所述", "答案是",
    "<think>", "</think>", "\\boxed{5}", "\\frac12", "\x00", "😀", "e\u0301", "\ufffd", "\u202e", "𠀀",
]
texts_strategy = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6),
              st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),  # lone surrogates
    max_size=60,
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts_strategy, min_size=1, max_size=6))
def test_native_matches_reference_on_generated_text(texts):
    assert_same(rbic_fast.parse_traces(texts), reference.parse_traces(texts), texts)
    for t in texts:
        assert rbic_fast.steps(t) == reference.steps(t)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=6))
def test_invalid_utf8_in_arrow_buffers_reads_as_replacement(chunks):
    pa = pytest.importorskip("pyarrow")
    data = b"".join(chunks)
    offsets = np.cumsum([0] + [len(c) for c in chunks]).astype(np.int64)
    arr = pa.Array.from_buffers(pa.large_string(), len(chunks), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    decoded = [c.decode("utf-8", "replace") for c in chunks]
    native = rbic_fast.parse_traces(arr)
    assert_same(native, reference.parse_traces(decoded), decoded)
    assert_same(native, reference.parse_traces(arr), decoded)


def test_lone_surrogates_are_one_replacement_each():
    f = rbic_fast.parse_traces(["a\ud800b\udfff", "x = 1\ud83d"])
    assert list(f.n_chars) == [4, 6]
    assert rbic_fast.steps("ok\ud800.\n\nnext") == ["ok\ufffd.", "next"]
    assert_same(f, reference.parse_traces(["a\ud800b\udfff", "x = 1\ud83d"]))


def test_long_line_and_crlf_match_reference():
    line = "So x = 1, then y_1 = x + 2 = 3. Wait, 等等，即 $a$ \\(b\\) " * 3000
    texts = [line, line.replace(" ", "\r\n"), "\x00" * 1000 + "Hmm."]
    assert_same(rbic_fast.parse_traces(texts), reference.parse_traces(texts))


@pytest.mark.parametrize("before", ["", "=", "x=", "x = ", "x =  ", "x=$", "x= $ ", "x=\t\x0b\x0c", "x=\u3000",
                                    "x=\xa0 ", "中=", "5=", "x \u3000= $\xa0", "y = <<2*3=6>>", "<<2*3=6>> ", "a "])
def test_number_after_equals_and_spaces_matches_reference(before):
    # The '=' test of a number reads up to two bytes before it directly, else walks back: both paths, and a later
    # use of the number (dep_depth is 1 only when it was a definition).
    texts = [before + "6", before + "6\nwe see 6 again", "\n" + before + "6\n6"]
    native = rbic_fast.parse_traces(texts)
    assert_same(native, reference.parse_traces(texts), texts)
    assert native.dep_depth[1] == (1 if before.rstrip(" \t\x0b\x0c$\u3000\xa0").endswith("=") or
                                   before.endswith("=6>>") else 0)


def test_annotation_bodies_match_reference():
    # A GSM8K annotation's body is searched 16 bytes at a time while they lie inside the text, then byte by byte:
    # bodies of 0-40 bytes with an '=' (alone, in == => <= !=, or at either end) at every position, closed by >>,
    # by a lone >, by < or a line break, or by the end of the text, and cut short at every length.
    texts, equals = [], 0
    for length in range(0, 41, 3):
        for at in range(length):
            for sign in ("=", "==", "=>", "<=", "!=", "x="):
                body = ("3*4+" * 11)[:length]
                body = body[:at] + sign + body[at + len(sign):] if at + len(sign) <= length else body
                for close in (">>", ">", "<", "\n", "\r", ""):
                    text = "a = <<" + body + close + "12 = b"
                    texts += [text, text[: len(text) - at]]
                    equals += close == ">>" and sign in ("=", "x=")
    assert equals > 100
    assert_same(rbic_fast.parse_traces(texts), reference.parse_traces(texts), texts)


@pytest.mark.parametrize("unit", ["<<a", " ", "= ", "$", "1.", "等等，", "\r\n", "a ", "x_{", "\\[", "Wait. "])
def test_pathological_repetitions_match_reference(unit):
    text = unit * (100_000 // len(unit)) + "1"
    assert_same(rbic_fast.parse_traces([text]), reference.parse_traces([text]))


# --- arrow input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("large", [False, True])
def test_arrow_arrays_sliced_with_nulls(large):
    pa = pytest.importorskip("pyarrow")
    texts = [case["text"] for case in GOLDEN] + [None, "", "Wait. So 1 = 1."]
    arr = pa.array(texts, type=pa.large_string() if large else pa.string())
    want = rbic_fast.parse_traces([t or "" for t in texts])
    got = rbic_fast.parse_traces(arr)
    assert_same(got, want)
    assert got.n_chars[len(GOLDEN)] == 0 and got.n_steps[len(GOLDEN)] == 0
    sliced = arr.slice(2, 5)
    assert_same(rbic_fast.parse_traces(sliced), rbic_fast.parse_traces([t or "" for t in texts[2:7]]))
    chunked = pa.chunked_array([arr.slice(0, 3), arr.slice(3)])
    assert_same(rbic_fast.parse_traces(chunked), want)
    assert len(rbic_fast.parse_traces(pa.chunked_array([], type=pa.string()))) == 0


def test_malformed_offsets_raise_value_error():
    # pyarrow validates arrays it builds, so malformed buffers are fed to the kernel the wrapper calls.
    parser = _core.StepParser([])
    data = np.frombuffer(b"abcdefgh", dtype=np.uint8)
    for offsets in ([0, 4, 100], [0, 6, 2], [-1, 2, 3]):
        for dtype in (np.int32, np.int64):
            with pytest.raises(ValueError, match="row"):
                parser.parse(data, np.array(offsets, dtype=dtype), None, 1, None)
    # A null row's offsets are not read.
    ints, _, _ = parser.parse(data, np.array([0, 4, 100], dtype=np.int64), np.array([1, 0], np.uint8), 1, None)
    assert list(ints[0]) == [4, 0]


def test_arrow_binary_is_rejected_with_fix():
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(TypeError, match="cast"):
        rbic_fast.parse_traces(pa.array([b"x"], type=pa.binary()))


PANDAS_TEXTS = ["First, x = 2.\n\nWait, so x = 3.", None, "因此，设y为总数，则y=5。所以答案是5。",
                "Let $a = 4$ and \\(b = a + 1\\). Therefore b = 5.", "<think>Hmm. Let me check.</think> 7"]


def test_pandas_series_and_index_parse_like_the_list(monkeypatch):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    expected = rbic_fast.parse_traces(PANDAS_TEXTS).to_pandas()
    for obj in (pd.Series(PANDAS_TEXTS, dtype=object), pd.Series(PANDAS_TEXTS, dtype="string[pyarrow]"),
                pd.Series(PANDAS_TEXTS, dtype="string[python]"), pd.Index(PANDAS_TEXTS, dtype=object),
                pd.Series(PANDAS_TEXTS, dtype=object).replace({None: float("nan")})):
        pd.testing.assert_frame_equal(rbic_fast.parse_traces(obj).to_pandas(), expected)
        assert_same(rbic_fast.parse_traces(obj), reference.parse_traces(obj))
    assert list(rbic_fast.parse_traces(pd.Series([None, float("nan")], dtype=object)).n_chars) == [0, 0]
    surrogate = ["a\ud800b = 1", "ok"]  # (Arrow cannot hold a lone surrogate; the list path reads it as U+FFFD)
    pd.testing.assert_frame_equal(rbic_fast.parse_traces(pd.Series(surrogate, dtype=object)).to_pandas(),
                                  rbic_fast.parse_traces(surrogate).to_pandas())
    # An Arrow-backed column is parsed from its own buffers: the per-string list path is not taken.
    steps_module = sys.modules["rbic_fast.steps"]
    monkeypatch.setattr(steps_module, "_encode_list", lambda *a: pytest.fail("the Arrow column was copied"))
    arrow_backed = pd.Series(PANDAS_TEXTS, dtype="string[pyarrow]")
    pd.testing.assert_frame_equal(rbic_fast.parse_traces(arrow_backed).to_pandas(), expected)
    two_chunks = pd.concat([arrow_backed[:2], arrow_backed[2:]], ignore_index=True)
    pd.testing.assert_frame_equal(rbic_fast.parse_traces(two_chunks).to_pandas(), expected)


def test_to_pandas_keeps_the_given_index():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"reasoning": PANDAS_TEXTS}, index=[10, 3, 7, 42, 5])
    feats = rbic_fast.parse_traces(df["reasoning"]).to_pandas(index=df.index)
    assert list(feats.index) == [10, 3, 7, 42, 5]
    joined = df.join(feats)
    assert list(joined["n_steps"]) == list(rbic_fast.parse_traces(PANDAS_TEXTS).n_steps)
    with pytest.raises(ValueError, match="index has 2 labels for 5 rows"):
        rbic_fast.parse_traces(PANDAS_TEXTS).to_pandas(index=[0, 1])


def test_containers_that_would_parse_the_wrong_texts_are_refused():
    with pytest.raises(TypeError, match="values"):
        rbic_fast.parse_traces({"id1": "x = 1."})  # (iterating would parse the keys)
    with pytest.raises(TypeError, match="set"):
        rbic_fast.parse_traces({"x = 1.", "so y"})  # (rows in hash order)
    pd = pytest.importorskip("pandas")
    with pytest.raises(TypeError, match="column"):
        rbic_fast.parse_traces(pd.DataFrame({"reasoning": ["x = 1."]}))


def test_pandas_values_that_are_not_text_name_the_row():
    pd = pytest.importorskip("pandas")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        rbic_fast.parse_traces(pd.Series(["ok", 3], dtype=object))
    with pytest.raises(TypeError, match=r"texts\[0\] is int"):
        rbic_fast.parse_traces(pd.Series([1, 2]))


# --- size, threads, GIL, progress ----------------------------------------------------------------------------


def test_trace_over_two_gib_is_rejected_by_row(tmp_path):
    """Features are int32: a row longer than 2 GiB - 1 bytes gets an error naming it (a sparse file, not RAM)."""
    path = tmp_path / "huge.bin"
    with open(path, "wb") as fh:
        fh.truncate(2**31 + 16)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    with pytest.raises(ValueError, match=r"row 1 has 2147483649 bytes; a trace may have at most 2 GiB"):
        _parser(None).parse(data, np.array([0, 10, 2**31 + 11], dtype=np.int64), None, 1, None)
    f = TraceFeatures._from_arrays(*_parser(None).parse(data, np.array([0, 2**31 - 1], dtype=np.int64),
                                                         np.zeros(1, np.uint8), 1, None))
    assert f.n_chars.dtype == np.int32 and f.n_chars[0] == 0  # the null row is not read


def test_ten_megabyte_trace_is_additive_over_repeats():
    case = GOLDEN[0]
    one = rbic_fast.parse_traces([case["text"]])
    inner = reference.think_part(case["text"])
    k = 10_000_000 // len(inner.encode()) + 1
    big = "\n\n".join([inner] * k)
    assert len(big.encode()) > 10_000_000
    f = rbic_fast.parse_traces([big, ""])
    assert f.n_chars[0] == len(big)
    for name in ("n_steps", "n_connectives", "n_verify", "n_backtrack", "n_equations", "n_numbers", "branching"):
        assert getattr(f, name)[0] == k * getattr(one, name)[0], name
    assert f.redundancy[0] == pytest.approx(1 - one.n_steps[0] / (k * one.n_steps[0]))
    assert f.n_chars[1] == 0 and f.n_steps[1] == 0


def test_results_identical_at_any_thread_count():
    texts = [t for _, _, t in dataset_texts(DATA)] * 8
    base = rbic_fast.parse_traces(texts, threads=1)
    for threads in (2, 3, None):
        assert_same(rbic_fast.parse_traces(texts, threads=threads), base)


def test_gil_is_released_and_progress_reaches_total():
    texts = ["Wait, so x = 1. Then y = x + 1 = 2.\n\n" * 2000] * 200
    seen = []
    assert_releases_gil(
        lambda: rbic_fast.parse_traces(texts, threads=1, progress=lambda done, total: seen.append((done, total)))
    )
    assert seen and seen[-1][0] == seen[-1][1] > 0


def test_ctrl_c_interrupts():
    texts = ["Wait, so x = 1. Then y = x + 1 = 2.\n\n" * 20000] * 400  # ~300 MB: seconds on one thread
    assert_interruptible(lambda: rbic_fast.parse_traces(texts, threads=1), after=0.5, within=4.0)


# --- API contract --------------------------------------------------------------------------------------------


def test_trace_features_container():
    f = rbic_fast.parse_traces(["So 1 = 1.", "等等，不对。"])
    assert len(f) == 2
    assert [fl.name for fl in dataclasses.fields(f)] == [*FEATURE_COLUMNS, "redundancy", "lang"]
    assert f.n_chars.dtype == np.int32 and f.redundancy.dtype == np.float32
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.n_steps = f.n_chars
    with pytest.raises(ValueError):
        f.n_steps[0] = 5
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = f.to_pandas()
    assert list(df.columns) == [*FEATURE_COLUMNS, "redundancy", "lang"] and df["lang"].tolist() == ["en", "zh"]
    table = f.to_arrow()
    assert table.num_rows == 2 and table.column("n_chars").to_pylist() == [9, 6]
    assert len(rbic_fast.parse_traces([])) == 0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="wrap it"):
        rbic_fast.parse_traces("a single string")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        rbic_fast.parse_traces(["ok", 3])
    with pytest.raises(TypeError):
        rbic_fast.steps(b"bytes")
    with pytest.raises(ValueError, match="threads"):
        rbic_fast.parse_traces(["x"], threads=-1)


# The kernel sets; one the CPU lacks runs the fastest set below it (avx512 -> avx2 -> portable).
ISAS = ["avx512", "avx2", "portable"]
FAST_ISAS = ["avx512", "avx2"]  # compared with "portable"


def parse_buffers_with_isa(data: np.ndarray, offsets: np.ndarray, isa: str) -> TraceFeatures:
    """The native features of the rows [offsets[i], offsets[i + 1]) of the bytes `data`, computed with the
    byte-parallel kernels `isa`."""
    return TraceFeatures._from_arrays(*_parser(None).parse(data, offsets, None, 1, None, isa))


def parse_with_isa(texts: list[str], isa: str) -> TraceFeatures:
    """The native features of texts computed with the byte-parallel kernels `isa`."""
    return parse_buffers_with_isa(*_encode_list(texts), isa)


def test_isa_names_and_errors(monkeypatch):
    assert _core.StepParser.resolve_isa("portable") == "portable"
    assert _core.StepParser.resolve_isa("auto") in ("avx512", "avx2", "portable")
    assert _core.StepParser.resolve_isa("avx512") == _core.StepParser.resolve_isa("auto")
    assert _core.StepParser.resolve_isa("avx2") in ("avx2", "portable")
    features = rbic_fast.build_info()["cpu_features"]
    if "avx512" in features:
        assert _core.StepParser.resolve_isa("auto") == "avx512"
    if "avx2+fma" in features:  # (every CPU with AVX2 and FMA has POPCNT)
        assert _core.StepParser.resolve_isa("avx2") == "avx2"
    monkeypatch.setenv("RBIC_STEPS_ISA", "sse9")
    with pytest.raises(ValueError, match="isa must be"):
        rbic_fast.parse_traces(["x = 1"])


# Lengths around the 64-byte blocks of the kernels, so that events sit on block edges.
EDGE_UNIT = st.sampled_from(["a", "ab", " x ", "12", "3.5", "=", "$", "\\", "<<1=1>>", "\n", "。", "é", "x_1", "_"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts_strategy, st.lists(EDGE_UNIT, min_size=20, max_size=90).map("".join)),
                min_size=1, max_size=6))
def test_kernel_paths_agree(texts):
    """The AVX-512 and AVX2 kernels (where the CPU has them) and the portable ones give identical results."""
    texts = [prepare_text(t) for t in texts]
    want = parse_with_isa(texts, "portable")
    parser = _parser(None)
    for isa in FAST_ISAS:
        assert_same(parse_with_isa(texts, isa), want, texts)
        for t in texts:
            raw = t.encode()
            assert parser.spans(raw, isa) == parser.spans(raw, "portable")


# Byte units for the kernels' UTF-8 decoding by masks: valid 2- and 3-byte characters at the edges of the CJK
# ranges and of E0/ED's second bytes, the full-width sentence ends, wide spaces, 4-byte characters and invalid or
# truncated sequences (each of the latter makes the kernel hand the text's non-ASCII runs back to scan()).
UTF8_UNITS = [s.encode() for s in ["a", "x = 1", ". ", "\n", "3", "é", "\xa0", "\u3000", "中", "。", "！", "？", "，",
                                   "\u3400", "\u4dbf", "\u4dc0", "\u4e00", "\u9fff", "\uf900", "\ufaff", "\ufb00",
                                   "\u0800", "\ud7ff", "\ue000", "\uffff", "\u0980", "😀", "𠀀", "<<3*4=12>>"]]
UTF8_UNITS += [b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80",
               b"\xf5\x80\x80\x80", b"\xff", b"\xe4\xb8", b"\xe4", b"\xc3", b"\xf0\x9f\x98"]
VALID_UTF8_UNITS = [u for u in UTF8_UNITS if u.decode("utf-8", "ignore").encode() == u]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 70), st.lists(st.lists(st.sampled_from(UTF8_UNITS), max_size=40), min_size=1, max_size=4),
       st.booleans())
def test_utf8_decoded_by_masks_matches_reference(shift, rows, valid_only):
    """Non-ASCII text at every alignment to the 64-byte blocks, valid or not, on both kernel paths."""
    pa = pytest.importorskip("pyarrow")
    chunks = [b"s" * shift + b"".join(u for u in units if not valid_only or u in VALID_UTF8_UNITS) for units in rows]
    data = b"".join(chunks)
    offsets = np.cumsum([0] + [len(c) for c in chunks]).astype(np.int64)
    decoded = [c.decode("utf-8", "replace") for c in chunks]
    ref = reference.parse_traces(decoded)
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, dtype=np.uint8)
    for isa in ISAS:
        assert_same(parse_buffers_with_isa(buf, offsets, isa), ref, decoded)
    arr = pa.Array.from_buffers(pa.large_string(), len(chunks), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    assert_same(rbic_fast.parse_traces(arr), ref, decoded)


# --- number tokens: decimals, skipped ranges, results across 64-byte block ends, on both kernel paths ---------

def assert_numbers_match(texts: list[str]) -> TraceFeatures:
    """Both kernel paths give the reference's features; returns the reference's."""
    ref = reference.parse_traces(texts)
    for isa in ISAS:
        assert_same(parse_with_isa(texts, isa), ref, texts)
    return ref


@pytest.mark.parametrize("text, count", [
    ("3.5", 1), ("1.2.3", 2), ("1.2.3.4", 2), ("12.34.56.78", 2), ("a1.2.3", 1), ("a1.2.3.4", 2), ("a3.5", 1),
    ("x2 _3", 0), ("3. 5", 2), (".5", 1), ("3..5", 2), ("y_1.5", 1), ("<<3.5*2=7>>7", 1), ("x_{12} = 4", 1),
    ("x_{12}a 7", 2), ("1.2.3 x_{3.5}", 3), ("x_{1} y_{23}z 4.5", 2), ("中3.5。4", 2),
])
def test_number_tokens(text, count):
    """Decimals take one ".digits"; no number starts after a word character, inside a GSM8K annotation or inside
    a braced subscript that makes a variable (x_{12}, but not x_{12}a)."""
    pad = "So " * 20  # and again with the token across the first 64-byte block's end
    texts = [text, pad + text, pad + " " + text, pad + "   " + text]
    assert list(assert_numbers_match(texts).n_numbers) == [count] * 4


def test_number_runs_and_decimals_across_block_ends():
    units = ["1.2.3.4.5.6.7", "123456.789", "a1.2.3", "9" * 70 + ".5", "x" + "7" * 63 + ".1.2"]
    texts = ["w " * k + u + " end" for u in units for k in range(24, 36)]
    texts += ["7" * k + "." + "8" * j for k in (62, 63, 64, 65, 127, 128) for j in (1, 2, 64)]
    assert_numbers_match(texts)


@pytest.mark.parametrize("skip", ["", " ", "$ ", "\u3000", "\xa0", " \u3000$\xa0 ", "\t\x0b\x0c", "\u3000\u3000"])
def test_result_after_equals_across_block_ends(skip):
    """A number is a definition when the byte before it, skipping blanks, '$' and wide spaces, is '=': with the
    '=' and the skipped bytes (wide spaces straddling blocks too) at every offset around 64 and 128 bytes."""
    texts, expected = [], []
    for k in range(50, 70):
        for lead in ("a", "\u00e9"):  # ASCII and non-ASCII before, so that skipped bytes fall on other offsets
            head = lead * (k // len(lead.encode()))
            texts.append(head + " =" + skip + "6\nwe see 6 again")
            texts.append(head + " ==" + skip + "6\nwe see 6 again")  # '=' before the number: still a result
            texts.append(head + " = x" + skip + "6\nwe see 6 again")
            texts.append("b" * 60 + head + " =" + skip + "6\nwe see 6 again")
            expected += [1, 1, 0, 1]
    ref = assert_numbers_match(texts)
    assert list(ref.dep_depth) == expected


@pytest.mark.parametrize("before, depth", [("y = ", 1), ("", 0), ("=$ ", 1), ("y = x ", 0), ("y =\u3000", 1)])
def test_number_after_annotation_looks_before_it(before, depth):
    """A number right after a GSM8K annotation is a result when '=' comes before the annotation (not inside it)."""
    texts = [pad + before + "<<2*3=6>>6\nwe see 6 again" for pad in ("", "We " * 19, "We " * 20 + "a", "We " * 21)]
    texts += [pad + before + "<<2*3=6>> 6\nwe see 6 again" for pad in ("", "We " * 20)]
    ref = assert_numbers_match(texts)
    assert list(ref.dep_depth) == [depth] * 4 + [0] * 2
    assert list(ref.n_numbers) == [2] * 6  # (none inside the annotation)


NUMBER_UNIT = st.sampled_from(["1", "23", ".", "=", "==", " ", "$", "\u3000", "\xa0", "\u00e9", "a", "x_", "_",
                               "<<", ">>", "x_{", "}", "\n", "y = ", "\u4e2d", "\xc2", "\u0080"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(NUMBER_UNIT, min_size=1, max_size=120).map("".join), min_size=1, max_size=6))
def test_numbers_match_reference_on_generated_text(texts):
    assert_numbers_match(texts)


# --- LaTeX: the kernels mark a backslash as an event only before \\ $ [ ] ( ) ---------------------------------

LATEX_UNIT = st.sampled_from(["\\", "\\\\", "\\$", "\\(", "\\)", "\\[", "\\]", "\\frac", "\\pi", "$", "$$", "x",
                              "x_1", "3", "3.5", " ", "\n", ". ", "So ", "=", "{", "}", "\u00e9"])


@pytest.mark.parametrize("escape", ["\\(x\\)", "\\[x = 1\\]", "\\$5", "\\\\(x\\)", "\\frac{a}{b}", "\\pi r", "$\\$$ 2"])
def test_latex_escapes_across_block_ends(escape):
    """Math delimiters, escaped dollars and commands with the backslash (and the byte after it) at every offset
    around the ends of the first two 64-byte blocks: both kernel paths give the reference's features."""
    texts = ["w" * k + " " + escape + ". Then y = 2\n" + escape for k in range(55, 70)]
    texts += ["w" * k + " $a" + escape + "$ b" for k in range(120, 132)]
    assert_numbers_match(texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(LATEX_UNIT, min_size=1, max_size=120).map("".join), min_size=1, max_size=6))
def test_latex_matches_reference_on_generated_text(texts):
    assert_numbers_match(texts)
    parser = _parser(None)
    for t in texts:
        for isa in FAST_ISAS:
            assert parser.spans(t.encode(), isa) == parser.spans(t.encode(), "portable")


def test_think_tags_at_every_offset_match_reference():
    # The tag search reads 32 or 64 bytes at a time, then the bytes that end the text (AVX2: the last 33 again,
    # a text under 33 bytes byte by byte): tags and decoys ("<t", "</", "<<") at every offset of texts of 0-80 bytes.
    texts = []
    for length in range(0, 81, 3):
        for at in range(length + 1):
            for body in (("a <b 3 </c x = 1. " * 6)[:length], ("ab 3 x = 1. " * 8)[:length]):
                for tag in ("<think>", "</think>", "<t", "</", "<<"):
                    texts.append(body[:at] + tag + body[at:])
                texts.append(body[:at] + "<think>So 1 = 1.</think>" + body[at:])
    assert_numbers_match(texts)


def test_rows_ending_at_block_ends_do_not_see_the_next_row():
    # A row's last bytes are tested against the byte or two after them, which lie past the row: a row of 62-67
    # bytes (or 64 more) ending in a letter, '=' or a CJK lead, before rows that start with a digit, '=' or a letter.
    texts = []
    for length in [*range(62, 68), *range(126, 132)]:
        for end in ("x", "=", "a=", "中"):
            for nxt in ("1 = y", "= 2", "b", "\u4e2d"):
                texts += ["w" * (length - len(end.encode())) + end, nxt]
    assert_numbers_match(texts)


# Steps that normalise alike (blanks and ASCII case differ), of 1-100 bytes: the kernels' step signatures must
# be equal for them wherever the step starts and ends relative to the kernels' 32- and 64-byte vectors.
STEP_CORE = st.builds(lambda head, tail: head + tail, st.sampled_from("aX1=é中"),
                      st.text(st.sampled_from("abXY19=+.,?é中 "), max_size=90))


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP_CORE, min_size=1, max_size=4), st.lists(st.integers(0, 7), min_size=8, max_size=8))
def test_duplicate_steps_of_every_alignment_match_reference(cores, spaces):
    lines = []
    for k, core in enumerate(cores * 3):
        pad = " " * spaces[k % 8]
        variant = core.upper() if k % 2 else core
        lines.append(pad + variant.replace(" ", " " * (1 + spaces[(k + 3) % 8])) + pad)
    texts = ["\n".join(lines), "x" * spaces[0] + "\n" + "\n".join(reversed(lines))]
    ref = assert_numbers_match(texts)
    assert ref.redundancy[0] > 0  # (each core appears three times)


def test_kernel_paths_agree_on_dataset_excerpts():
    texts = [t for _, _, t in dataset_texts(DATA)]
    want = parse_with_isa(texts, "portable")
    for isa in FAST_ISAS:
        assert_same(parse_with_isa(texts, isa), want, texts)


def test_rows_of_unordered_offsets_around_nulls_parse_as_their_bytes():
    """A null row's offsets are not checked, so valid rows around it may overlap or go back in the buffer."""
    text = "Wait, x = 2. So y = x + 1.\nBut wait, check: y = 3. Hmm, therefore 3."
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    offsets = np.array([0, 40, 20, len(text), 3, 30], dtype=np.int64)  # rows 1 and 3 are null
    valid = np.array([1, 0, 1, 0, 1], dtype=np.uint8)
    ints, red, lang = _parser(None).parse(data, offsets, valid, 1, None)
    rows = [text[0:40], None, text[20:], None, text[3:30]]
    expected = reference.parse_traces(rows)
    assert_same(TraceFeatures._from_arrays(ints, red, lang), expected, rows)


def test_core_rejects_unconverted_arrays():
    parser = _core.StepParser([(b"wait", 5, 0, b"", [], [], False)])
    data = np.frombuffer(b"wait", dtype=np.uint8)
    with pytest.raises(TypeError):
        parser.parse(data, np.array([0, 4], dtype=np.float64), None, 1, None)
    with pytest.raises(TypeError):
        parser.parse(np.array([1, 2], dtype=np.int32), np.array([0, 2], dtype=np.int64), None, 1, None)
    ints, _, _ = parser.parse(data, np.array([0, 4], dtype=np.int64), None, 1, None)
    assert ints[7, 0] == 1  # the one backtracking marker


def test_custom_lexicon_dict_and_path(tmp_path):
    lex = {"categories": {"verify": ["double check", {"pattern": "ok", "initial": "sentence"}],
                          "causal": ["ergo", {"pattern": "所", "not_followed_by": ["以"]}]}}
    texts = ["Ergo it holds. OK, double check. so ok", "所以所得", "wait therefore"]
    got = rbic_fast.parse_traces(texts, lexicon=lex)
    assert list(got.n_verify) == [2, 0, 0] and list(got.n_causal) == [1, 1, 0]
    assert got.n_backtrack.sum() == 0  # the default lexicon is replaced, not extended
    path = tmp_path / "lex.json"
    path.write_text(json.dumps(lex), encoding="utf-8")
    assert_same(rbic_fast.parse_traces(texts, lexicon=str(path)), got)
    assert_same(reference.parse_traces(texts, lexicon=lex), got)


@pytest.mark.parametrize("lex, match", [
    ({"categories": {"verfy": ["x"]}}, "unknown category"),
    ({"categories": {"verify": ["x", "X"]}}, "repeats"),
    ({"categories": {"verify": [""]}}, "empty"),
    ({"categories": {"verify": ["a\nb"]}}, "line break"),
    ({"categories": {"verify": [" a"]}}, "whitespace"),
    ({"categories": {"verify": [{"pattern": "a", "initial": "start"}]}}, "initial"),
    ({"categories": {"verify": [{"pattern": "a", "colour": 1}]}}, "unknown keys"),
    ({"cats": {}}, "categories"),
    ({"categories": {"verify": ["a\ud800"]}}, "surrogate"),
])
def test_lexicon_validation(lex, match):
    with pytest.raises(ValueError, match=match):
        rbic_fast.parse_traces(["x"], lexicon=lex)


def test_lexicon_type_errors(tmp_path):
    with pytest.raises(TypeError, match="list"):
        rbic_fast.parse_traces(["x"], lexicon={"categories": {"verify": "check"}})
    with pytest.raises(TypeError):
        rbic_fast.parse_traces(["x"], lexicon=42)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        rbic_fast.parse_traces(["x"], lexicon=bad)
    with pytest.raises(ValueError, match="cannot read"):
        rbic_fast.parse_traces(["x"], lexicon=tmp_path / "missing.json")


# --- outputs on base pages (csrc/bindings/common.hpp prefer_base_pages) -------------------------------------------

def _vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that holds `address` (Linux /proc/self/smaps)."""
    flags, inside = None, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                flags = line.split()[1:]
    assert flags is not None, f"no mapping holds {address:#x}"
    return flags


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise advice is Linux-only")
def test_large_outputs_are_advised_onto_base_pages():
    """Outputs of 4 MB or more are advised MADV_NOHUGEPAGE before they are written ("nh" in their mapping's
    VmFlags); smaller ones are left alone, and the advice changes no result."""
    fresh = np.empty(8 << 20, dtype=np.uint8)
    _core.StepParser.prefer_base_pages(fresh)
    assert "nh" in _vm_flags(fresh.ctypes.data + (4 << 20))
    texts = ["So x = 1.\nThus y = 2."] * 250_000  # the (14, n) int32 features take 14 MB, the lang strings 5 MB
    feats = rbic_fast.parse_traces(texts)
    assert "nh" in _vm_flags(feats.n_steps.ctypes.data + feats.n_steps.nbytes // 2)
    assert "nh" in _vm_flags(feats.lang.ctypes.data + feats.lang.nbytes // 2)
    assert list(np.unique(feats.n_steps)) == [2] and list(np.unique(feats.lang)) == ["en"]
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.StepParser.prefer_base_pages(np.zeros((8, 8))[:, ::2])
