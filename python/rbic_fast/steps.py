"""Reasoning-trace parser: step segmentation and logical-complexity features (DESIGN.md §1.5, §7).

:func:`parse_traces` runs the native kernel (one Aho–Corasick pass over UTF-8 for the markers, one tokenising
pass, then per-step work), :func:`steps` returns the segmentation itself. ``rbic_fast.reference`` holds a
pure-Python implementation of exactly the same definitions, which the tests use as the oracle.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from . import _core
from ._lexicon import CATEGORIES, Lexicon, LexiconArg, load_lexicon
from ._progress import ProgressArg, make_progress
from ._threads import threads_arg

#: Integer feature columns, in the row order of the native output matrix.
FEATURE_COLUMNS: tuple[str, ...] = (
    "n_chars", "n_steps", "n_connectives", "n_causal", "n_conclusion", "n_contrast", "n_verify",
    "n_backtrack", "n_explore", "n_equations", "n_math_spans", "n_numbers", "dep_depth", "branching",
)
#: Values of ``lang``, indexed by the native language code.
LANGS: tuple[str, ...] = ("en", "zh", "mixed")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Byte-parallel kernels of the native parser: "auto" (AVX-512BW where the CPU has it, else AVX2), "avx512", "avx2"
# or "portable" (a set the CPU lacks runs the fastest one below it). Every choice gives identical results;
# RBIC_STEPS_ISA=portable exercises the portable kernels on any CPU.
_ISA_ENV = "RBIC_STEPS_ISA"


def _isa() -> str:
    return os.environ.get(_ISA_ENV, "auto")


def prepare_text(text: str) -> str:
    """Replace lone surrogates (which UTF-8 cannot encode) with U+FFFD, one per surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    except AttributeError:
        raise TypeError(f"texts must be str, got {type(text).__name__}") from None
    return text


@dataclass(frozen=True)
class TraceFeatures:
    """Logical-complexity features of reasoning traces, one row per text (struct of numpy arrays).

    **Input.** Text is read as Unicode code points. Invalid UTF-8 in arrow buffers is decoded as Python's
    ``bytes.decode("utf-8", "replace")`` does (one U+FFFD per maximal invalid subpart); lone surrogates in
    Python strings become one U+FFFD each; a null (None) is an empty trace. ``"\\r\\n"`` and ``"\\r"`` are line
    breaks like ``"\\n"``. *Spaces* are TAB, VT, FF, SPACE, U+00A0 and U+3000; *blanks* are spaces and line
    breaks.

    **Analysed region.** If the text contains ``</think>``, the region is the part before its first occurrence,
    starting after a ``<think>`` that precedes it (else at the start); with only ``<think>``, the part after
    it; otherwise the whole text. Every feature below is computed on this region (the think part of R1
    outputs, the whole text of plain solutions).

    **Markers** (lexicon, ``rbic_fast/data/lexicon.json``): every occurrence of a phrase, ASCII case-insensitive,
    that passes its rules — a word boundary (no ``[A-Za-z0-9_]`` neighbour) on each side where the phrase
    begins/ends with such a character; ``initial`` (the previous non-space character is the region start, a
    line break or one of ``.!?。！？``; ``clause`` adds ``,，;；``); ``followed_by`` (next character in the set,
    a blank or the end); ``not_followed_by`` / ``not_preceded_by``; ``setvar`` (DESIGN's
    ``设\\s*[A-Za-z\\u4e00-\\u9fff]{1,3}\\s*[=为是]``). Overlaps are resolved leftmost-longest: hits sorted by
    start, longer first, each kept when it starts at or after the end of the last kept one.

    **Tokens** (one left-to-right scan; math states TEXT, ``$``, ``\\(``, ``$$``, ``\\[``): ``\\\\`` and ``\\$``
    are escapes; ``$``/``\\(`` open inline math, ``$$``/``\\[`` display math, closed by ``$``/``\\)`` and
    ``$$``/``\\]``; a line break aborts open inline math (not counted); unclosed math is not counted. In any
    state, a GSM8K annotation ``<<…>>`` (no ``<``, ``>`` or line break inside) is skipped: nothing inside it
    counts.

    **Steps.** A step boundary is the start of every line (after a line break met outside display math), and
    each position right after a sentence end ``.!?。！？`` (in TEXT, skipping spaces, on the same line) where a
    kept marker starts; the ``.`` of a line-initial list number (1–3 digits after spaces and ``#*>``, as in
    ``3. Hence``) is not a sentence end. Segments are stripped of blanks; empty ones are dropped. Numbered lines (``Step 3``,
    ``3.``, ``第三步``) and blank-line paragraphs are therefore steps of their own.

    Columns (int32 unless noted; a trace may have at most 2 GiB - 1 bytes):

    - ``n_chars``: code points of the analysed region (GSM8K annotations included).
    - ``n_steps``: number of steps.
    - ``n_connectives``: kept markers of categories sequencing + causal + conclusion + contrast.
    - ``n_causal``, ``n_conclusion``, ``n_contrast``, ``n_verify``, ``n_backtrack``, ``n_explore``: kept markers
      per category.
    - ``n_equations``: ``=`` signs not preceded by one of ``=<>!`` nor followed by ``=`` or ``>`` (so ``==``,
      ``<=``, ``>=``, ``!=``, ``=>`` do not count), plus closed display-math blocks (``$$…$$``, ``\\[…\\]``).
    - ``n_math_spans``: closed inline math spans (``$…$``, ``\\(…\\)``).
    - ``n_numbers``: numeric literals ``[0-9]+(\\.[0-9]+)?`` not preceded by ``[A-Za-z0-9_]``.
    - ``dep_depth``: longest path, in edges, of the step-dependency DAG. Entities are numbers and one-letter
      variables (``x``, ``x_1``, ``x_{12}``: a letter not preceded by ``[A-Za-z_\\\\]``, not followed by
      ``[A-Za-z0-9_]``). A variable followed (after spaces) by ``=`` but not ``==``, not right after a digit
      (``2y``) and whose previous non-space character is not one of ``+-*/^=``, is *defined* there; a number
      is defined where the character before it, skipping spaces, ``$`` and a GSM8K annotation ending right
      at it, is ``=`` (``16 - 3 - 4 = <<16-3-4=9>>9`` defines 9); every other occurrence is a *use*. Edge
      i→j (i<j) when step j uses an entity first defined in step i, and (j−1)→j when step j's head (its first
      character after blanks and ``#*>``) starts a causal marker.
    - ``branching``: steps whose head starts a backtracking or exploration marker.
    - ``redundancy`` (float32): ``1 − distinct/n_steps`` (0 without steps), steps compared after removing blanks
      and lower-casing ASCII (the native kernel compares 64-bit hashes of the normalised steps, so two distinct
      steps could in principle collide; the chance is about m²/2⁶⁵ for m steps).
    - ``lang`` (str): with c = CJK ideographs (U+3400–4DBF, U+4E00–9FFF, U+F900–FAFF, U+20000–2FA1F) and
      l = ASCII letters: ``"zh"`` if l + c > 0 and c ≥ 0.4·(c + l); ``"en"`` if c ≤ 0.05·(c + l) (including empty
      text); ``"mixed"`` otherwise.
    """

    n_chars: np.ndarray
    n_steps: np.ndarray
    n_connectives: np.ndarray
    n_causal: np.ndarray
    n_conclusion: np.ndarray
    n_contrast: np.ndarray
    n_verify: np.ndarray
    n_backtrack: np.ndarray
    n_explore: np.ndarray
    n_equations: np.ndarray
    n_math_spans: np.ndarray
    n_numbers: np.ndarray
    dep_depth: np.ndarray
    branching: np.ndarray
    redundancy: np.ndarray
    lang: np.ndarray

    @classmethod
    def _from_arrays(cls, ints: np.ndarray, redundancy: np.ndarray, lang_codes: np.ndarray) -> TraceFeatures:
        cols = {name: ints[k] for k, name in enumerate(FEATURE_COLUMNS)}
        for a in cols.values():
            a.flags.writeable = False
        redundancy.flags.writeable = False
        lang = np.empty(len(lang_codes), dtype="<U5")  # (20 bytes a row: written once, on base pages)
        _core.StepParser.prefer_base_pages(lang)
        np.take(np.asarray(LANGS, dtype="<U5"), lang_codes, out=lang, mode="clip")  # (codes are 0-2; "raise" buffers)
        lang.flags.writeable = False
        return cls(**cols, redundancy=redundancy, lang=lang)

    def __len__(self) -> int:
        return int(self.n_chars.shape[0])

    def columns(self) -> dict[str, np.ndarray]:
        """The columns by name, in definition order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_pandas(self, index: Any = None) -> Any:
        """A pandas DataFrame with one column per feature.

        :param index: the row labels, e.g. ``df.index`` when the texts were ``df["reasoning"]``, so that the
            frame joins back onto ``df`` (default: 0..n-1).
        """
        import pandas as pd

        if index is not None and len(index) != len(self):
            raise ValueError(f"index has {len(index)} labels for {len(self)} rows of features")
        return pd.DataFrame(self.columns(), index=index)

    def to_arrow(self) -> Any:
        """A pyarrow Table with one column per feature (``lang`` as a string column)."""
        import pyarrow as pa

        return pa.table({k: pa.array(v) for k, v in self.columns().items()})


def _lexicon_arrays(lex: Lexicon) -> list[tuple]:
    return [(e.pattern.encode(), e.category, e.initial, e.followed_by.encode(),
             [s.encode() for s in e.not_followed_by], [s.encode() for s in e.not_preceded_by], e.setvar)
            for e in lex.entries]


_PARSERS: dict[int, Any] = {}


def _parser(lexicon: LexiconArg) -> Any:
    lex = load_lexicon(lexicon)
    key = id(lex)
    if lexicon is None and key in _PARSERS:
        return _PARSERS[key]
    parser = _core.StepParser(_lexicon_arrays(lex))
    if lexicon is None:
        _PARSERS[key] = parser
    return parser


def _encode_list(texts: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    chunks = []
    for i, t in enumerate(texts):
        if t is None:
            chunks.append(b"")
        elif isinstance(t, str):
            chunks.append(prepare_text(t).encode("utf-8"))
        else:
            raise TypeError(f"texts[{i}] is {type(t).__name__}; give str (or None for a missing trace)")
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in chunks], out=offsets[1:])
    return np.frombuffer(b"".join(chunks), dtype=np.uint8), offsets


def _arrow_buffers(arr: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Zero-copy views of a pyarrow (large_)string array: data bytes, offsets, validity (or None)."""
    import pyarrow as pa

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise TypeError(f"arrow texts must be string or large_string, got {arr.type}; cast with arr.cast(pa.string())")
    _, off_buf, data_buf = arr.buffers()
    dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    n = len(arr)
    offsets = np.frombuffer(off_buf, dtype=dtype)[arr.offset: arr.offset + n + 1] if off_buf is not None and n \
        else np.zeros(n + 1, dtype=dtype)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    valid = None
    if arr.null_count:
        valid = np.ascontiguousarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=np.uint8)
    return data, offsets, valid


def parse_traces(texts: Sequence[str | None] | Any, *, lexicon: LexiconArg = None, threads: int | None = None,
                 progress: ProgressArg = None) -> TraceFeatures:
    """Parse reasoning traces into logical-complexity features (defined in :class:`TraceFeatures`).

    :param texts: a list of str (None = empty trace); a pyarrow string/large_string array or chunked array, read
        through its buffers without copying the text (nulls are empty traces; invalid UTF-8 is read as U+FFFD);
        or a pandas Series or Index of str (missing values are empty traces; pandas' default Arrow-backed str
        dtype is read without copying).
    :param lexicon: None for the shipped lexicon, a path to a JSON lexicon, or the same as a dict
        (``{"categories": {"causal": ["therefore", {"pattern": "so", "initial": "sentence"}], ...}}``).
    :param threads: worker threads (None: all cores). Results are identical at any thread count.
    :param progress: None/False, True (a tqdm bar), or a callable ``progress(bytes_done, bytes_total)``.
    :return: a :class:`TraceFeatures` with one row per text.
    """
    parser = _parser(lexicon)
    nthreads = threads_arg(threads)
    callback, close = make_progress(progress, "parse_traces")
    try:
        if type(texts).__module__.startswith("pandas"):
            if hasattr(texts, "columns"):
                raise TypeError("texts is a DataFrame; pass its text column: parse_traces(df['reasoning'])")
            texts = _pandas_arrow(texts)
        if hasattr(texts, "type") and hasattr(texts, "chunks"):  # pyarrow ChunkedArray
            parts = [_parse_arrow(parser, c, nthreads, callback) for c in texts.chunks]
            if not parts:
                return _empty()
            ints = np.concatenate([p[0] for p in parts], axis=1)
            return TraceFeatures._from_arrays(ints, np.concatenate([p[1] for p in parts]),
                                              np.concatenate([p[2] for p in parts]))
        if hasattr(texts, "type") and hasattr(texts, "buffers"):
            return TraceFeatures._from_arrays(*_parse_arrow(parser, texts, nthreads, callback))
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a list of str, not a single string; wrap it: parse_traces([text])")
        if isinstance(texts, Mapping):
            raise TypeError("texts is a mapping (its keys would be parsed); pass its values: "
                            "parse_traces(list(d.values()))")
        if isinstance(texts, (set, frozenset)):
            raise TypeError("texts is a set, whose order is arbitrary; pass a list (e.g. sorted(texts))")
        data, offsets = _encode_list(list(texts))
        return TraceFeatures._from_arrays(*parser.parse(data, offsets, None, nthreads, callback, _isa()))
    finally:
        close()


def _pandas_arrow(texts: Any) -> Any:
    """A pandas Series, Index or array of str as a pyarrow string array or chunked array, else as a list (whose
    errors name the row). pandas' default str dtype is Arrow-backed: its text is then read without copying.
    Missing values (None, NaN, pd.NA) become nulls, i.e. empty traces."""
    import pyarrow as pa

    try:
        arr = pa.array(texts, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):  # (lone surrogates: the list path replaces them)
        return list(texts)
    if pa.types.is_null(arr.type):  # every value missing
        return [None] * len(arr)
    if getattr(pa.types, "is_string_view", lambda t: False)(arr.type):
        return arr.cast(pa.large_string())
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr
    return list(texts)


def _parse_arrow(parser: Any, arr: Any, nthreads: int, callback: Any) -> tuple:
    data, offsets, valid = _arrow_buffers(arr)
    return parser.parse(data, offsets, valid, nthreads, callback, _isa())


def _empty() -> TraceFeatures:
    return TraceFeatures._from_arrays(np.zeros((len(FEATURE_COLUMNS), 0), np.int32), np.zeros(0, np.float32),
                                      np.zeros(0, np.uint8))


def steps(text: str, *, lexicon: LexiconArg = None) -> list[str]:
    """The step segmentation of one trace (boundaries as defined in :class:`TraceFeatures`).

    :param text: the trace (its analysed region is segmented: inside ``<think>…</think>`` when present).
    :param lexicon: as in :func:`parse_traces` (markers decide the sentence-level splits).
    :return: the non-empty steps, stripped of surrounding blanks.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    raw = prepare_text(text).encode("utf-8")
    return [raw[s:e].decode("utf-8", "replace") for s, e in _parser(lexicon).spans(raw, _isa())]


__all__ = ["CATEGORIES", "FEATURE_COLUMNS", "LANGS", "TraceFeatures", "parse_traces", "steps"]
