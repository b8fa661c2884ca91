"""Pure-Python reference of the trace parser: the same definitions as the native kernel, written for clarity.

Every feature is defined in :class:`rbic_fast.steps.TraceFeatures`; the tests compare this module with the
native parser feature by feature. It is slow (a few MB/s) and meant as the oracle, not for production.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._lexicon import CATEGORIES, Entry, Lexicon, LexiconArg, ascii_lower, load_lexicon
from .steps import FEATURE_COLUMNS, LANGS, TraceFeatures, prepare_text

SPACES = frozenset("\t\x0b\x0c \xa0\u3000")
BREAKS = frozenset("\n\r")
BLANK = SPACES | BREAKS
SENTENCE_END = frozenset(".!?。！？")
SENTENCE_PREV = frozenset("\n\r.!?。！？")
CLAUSE_PREV = SENTENCE_PREV | frozenset(",，;；")
HEAD_SKIP = BLANK | frozenset("#*>")
DIGITS = frozenset("0123456789")
LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
ALNUM = LETTERS | DIGITS
WORD = ALNUM | {"_"}
IDENT_PREV = LETTERS | frozenset("_\\")
SETVAR_END = frozenset("=为是")
DEF_BLOCKERS = frozenset("+-*/^=")
LIST_SKIP = SPACES | frozenset("#*>")
SEQ, CAUSAL, CONCL, CONTRAST, VERIFY, BACKTRACK, EXPLORE = range(len(CATEGORIES))
TEXT, INLINE_DOLLAR, INLINE_PAREN, DISPLAY_DOLLAR, DISPLAY_BRACKET = range(5)


def think_part(text: str) -> str:
    """The analysed region: inside ``<think>…</think>`` when the trace has such a block (see TraceFeatures)."""
    close = text.find("</think>")
    if close >= 0:
        open_ = text.find("<think>")
        start = open_ + 7 if 0 <= open_ and open_ + 7 <= close else 0
        return text[start:close]
    open_ = text.find("<think>")
    return text[open_ + 7:] if open_ >= 0 else text


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F


def _prev_nonspace(a: str, i: int) -> str | None:
    """The character before position i after skipping spaces (not line breaks); None at the start."""
    j = i - 1
    while j >= 0 and a[j] in SPACES:
        j -= 1
    return a[j] if j >= 0 else None


def _setvar_ok(a: str, end: int) -> bool:
    n = len(a)
    j = end
    while j < n and a[j] in SPACES:
        j += 1
    for k in range(1, 4):
        if j + k > n or not all(c in LETTERS or 0x4E00 <= ord(c) <= 0x9FFF for c in a[j:j + k]):
            break
        q = j + k
        while q < n and a[q] in SPACES:
            q += 1
        if q < n and a[q] in SETVAR_END:
            return True
    return False


def _valid(a: str, low: str, e: Entry, start: int, end: int) -> bool:
    if e.pattern[0] in WORD and start > 0 and a[start - 1] in WORD:
        return False
    if e.pattern[-1] in WORD and end < len(a) and a[end] in WORD:
        return False
    if e.initial:
        prev = _prev_nonspace(a, start)
        if prev is not None and prev not in (SENTENCE_PREV if e.initial == 1 else CLAUSE_PREV):
            return False
    if e.followed_by and end < len(a) and a[end] not in BLANK and low[end] not in e.followed_by:
        return False
    if any(low.startswith(s, end) for s in e.not_followed_by):
        return False
    if any(low.endswith(s, 0, start) for s in e.not_preceded_by):
        return False
    return not e.setvar or _setvar_ok(a, end)


def markers(a: str, lexicon: Lexicon) -> list[tuple[int, int, int]]:
    """Marker hits (start, end, category): every valid occurrence, then leftmost-longest without overlaps."""
    low = ascii_lower(a)
    found = []
    for e in lexicon.entries:
        i = low.find(e.pattern)
        while i >= 0:
            end = i + len(e.pattern)
            if _valid(a, low, e, i, end):
                found.append((i, end, e.category))
            i = low.find(e.pattern, i + 1)
    found.sort(key=lambda m: (m[0], -m[1]))
    chosen, last = [], 0
    for m in found:
        if m[0] >= last:
            chosen.append(m)
            last = m[1]
    return chosen


def _annotation_end(a: str, i: int) -> int:
    """End of a GSM8K ``<<…>>`` annotation opening at i (no '<', '>' or line break inside), else -1."""
    k, n = i + 2, len(a)
    while k < n and a[k] not in "<>\n\r":
        k += 1
    return k + 2 if k + 1 < n and a[k] == ">" and a[k + 1] == ">" else -1


def scan(a: str) -> dict[str, Any]:
    """The tokenising pass: math state, line and sentence boundaries, '=', numbers and entities."""
    n = len(a)
    state = TEXT
    hard, sentence, entities = [0], [], []  # entities: (position, key, is_definition)
    eq = display = inline = numbers = 0
    annotation = (-1, -1)
    i = 0
    while i < n:
        c = a[i]
        if c in BREAKS:
            if state in (INLINE_DOLLAR, INLINE_PAREN):
                state = TEXT
            if state == TEXT:
                hard.append(i + 1)
            i += 1
        elif c == "\\" and i + 1 < n and a[i + 1] in "\\$[]()":
            d = a[i + 1]
            if state == TEXT and d == "[":
                state = DISPLAY_BRACKET
            elif state == TEXT and d == "(":
                state = INLINE_PAREN
            elif state == DISPLAY_BRACKET and d == "]":
                state, display = TEXT, display + 1
            elif state == INLINE_PAREN and d == ")":
                state, inline = TEXT, inline + 1
            i += 2
        elif c == "$":
            double = i + 1 < n and a[i + 1] == "$"
            if state == TEXT:
                state = DISPLAY_DOLLAR if double else INLINE_DOLLAR
                i += 2 if double else 1
            elif state == INLINE_DOLLAR:
                state, inline = TEXT, inline + 1
                i += 1
            elif state == DISPLAY_DOLLAR and double:
                state, display = TEXT, display + 1
                i += 2
            else:
                i += 1
        elif c == "<" and i + 1 < n and a[i + 1] == "<" and _annotation_end(a, i) >= 0:
            annotation = (i, _annotation_end(a, i))
            i = annotation[1]
        elif c == "=":
            if (i == 0 or a[i - 1] not in "=<>!") and (i + 1 >= n or a[i + 1] not in "=>"):
                eq += 1
            i += 1
        elif c in DIGITS and (i == 0 or a[i - 1] not in WORD):
            k = i
            while k < n and a[k] in DIGITS:
                k += 1
            if k + 1 < n and a[k] == "." and a[k + 1] in DIGITS:
                k += 1
                while k < n and a[k] in DIGITS:
                    k += 1
            numbers += 1
            # A result: '=' before it, skipping spaces, '$' and a GSM8K annotation ending right here.
            j = annotation[0] if annotation[1] == i else i
            while j > 0 and (a[j - 1] in SPACES or a[j - 1] == "$"):
                j -= 1
            entities.append((i, a[i:k], j > 0 and a[j - 1] == "="))
            i = k
        elif c in LETTERS and (i == 0 or a[i - 1] not in IDENT_PREV):
            end = _identifier_end(a, i)
            if end > 0:
                q = end
                while q < n and a[q] in SPACES:
                    q += 1
                is_def = (q < n and a[q] == "=" and (q + 1 >= n or a[q + 1] != "=")
                          and (i == 0 or a[i - 1] not in DIGITS) and _prev_nonspace(a, i) not in DEF_BLOCKERS)
                entities.append((i, a[i:end], is_def))
                i = end
            else:
                i += 1
        else:
            if c in SENTENCE_END and state == TEXT and not (c == "." and _list_number_before(a, i)):
                q = i + 1
                while q < n and a[q] in SPACES:
                    q += 1
                if q < n and a[q] not in BREAKS:
                    sentence.append(q)
            i += 1
    return {"hard": hard, "sentence": sentence, "entities": entities, "eq": eq, "display": display,
            "inline": inline, "numbers": numbers}


def _list_number_before(a: str, i: int) -> bool:
    """True when a[:i] ends a line-initial list number (1–3 digits after spaces and #*>), as in ``3. Hence``."""
    j = i
    while j > 0 and i - j < 3 and a[j - 1] in DIGITS:
        j -= 1
    if j == i or (j > 0 and a[j - 1] in DIGITS):
        return False
    while j > 0 and a[j - 1] in LIST_SKIP:
        j -= 1
    return j == 0 or a[j - 1] in BREAKS


def _identifier_end(a: str, i: int) -> int:
    """End of a one-letter variable (``x``, ``x_1``, ``x_{12}``) starting at i, or -1."""
    n = len(a)
    end = i + 1
    if end < n and a[end] == "_":
        if end + 1 < n and a[end + 1] in ALNUM:
            end += 1
            while end < n and a[end] in ALNUM:
                end += 1
        elif end + 1 < n and a[end + 1] == "{":
            k = end + 2
            while k < n and a[k] in ALNUM:
                k += 1
            if k == end + 2 or k >= n or a[k] != "}":
                return -1
            end = k + 1
        else:
            return -1
    return end if end >= n or a[end] not in WORD else -1


def _spans(a: str, hard: list[int], sentence: list[int], starts: set[int]) -> list[tuple[int, int]]:
    cuts = sorted(set(hard) | {q for q in sentence if q in starts})
    out = []
    for k, s in enumerate(cuts):
        e = cuts[k + 1] if k + 1 < len(cuts) else len(a)
        while s < e and a[s] in BLANK:
            s += 1
        while e > s and a[e - 1] in BLANK:
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def _lang(a: str) -> int:
    cjk = sum(1 for c in a if _is_cjk(c))
    total = cjk + sum(1 for c in a if c in LETTERS)
    if cjk * 10 >= total * 4 and total:
        return 1
    return 0 if cjk * 20 <= total else 2


def features(text: str, lexicon: Lexicon) -> tuple[list[int], float, int]:
    """Integer features (in FEATURE_COLUMNS order), redundancy and language code of one trace."""
    a = think_part(prepare_text(text))
    hits = markers(a, lexicon)
    sc = scan(a)
    spans = _spans(a, sc["hard"], sc["sentence"], {m[0] for m in hits})
    by_start = {m[0]: m[2] for m in hits}
    cat = [0] * len(CATEGORIES)
    for m in hits:
        cat[m[2]] += 1
    # The category of the marker at each step's head (after blanks and markdown '#', '*', '>').
    heads = []
    for s, e in spans:
        h = s
        while h < e and a[h] in HEAD_SKIP:
            h += 1
        heads.append(by_start.get(h, -1) if h < e else -1)
    branching = sum(1 for h in heads if h in (BACKTRACK, EXPLORE))
    # Dependency DAG: entities to steps by position, then longest path (edges) by DP.
    uses: list[list[str]] = [[] for _ in spans]
    defs: list[list[str]] = [[] for _ in spans]
    j = 0
    for pos, key, is_def in sc["entities"]:
        while j < len(spans) and spans[j][1] <= pos:
            j += 1
        if j < len(spans) and spans[j][0] <= pos:
            (defs if is_def else uses)[j].append(key)
    first_def: dict[str, int] = {}
    depth = [0] * len(spans)
    for j in range(len(spans)):
        d = depth[j - 1] + 1 if j > 0 and heads[j] == CAUSAL else 0
        for key in uses[j]:
            i = first_def.get(key)
            if i is not None:
                d = max(d, depth[i] + 1)
        depth[j] = d
        for key in defs[j]:
            first_def.setdefault(key, j)
    m = len(spans)
    normal = {ascii_lower("".join(ch for ch in a[s:e] if ch not in BLANK)) for s, e in spans}
    redundancy = float(np.float32((m - len(normal)) / m)) if m else 0.0
    ints = [len(a), m, cat[SEQ] + cat[CAUSAL] + cat[CONCL] + cat[CONTRAST], cat[CAUSAL], cat[CONCL], cat[CONTRAST],
            cat[VERIFY], cat[BACKTRACK], cat[EXPLORE], sc["eq"] + sc["display"], sc["inline"], sc["numbers"],
            max(depth, default=0), branching]
    return ints, redundancy, _lang(a)


def steps(text: str, *, lexicon: LexiconArg = None) -> list[str]:
    """The step segmentation of one trace (see :func:`rbic_fast.steps`).

    :param text: the trace.
    :param lexicon: as in :func:`parse_traces`.
    :return: the non-empty steps, stripped of surrounding blanks.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    a = think_part(prepare_text(text))
    sc = scan(a)
    starts = {m[0] for m in markers(a, load_lexicon(lexicon))}
    return [a[s:e] for s, e in _spans(a, sc["hard"], sc["sentence"], starts)]


def parse_traces(texts: Sequence[str | None] | Any, *, lexicon: LexiconArg = None, threads: int | None = None,
                 progress: Any = None) -> TraceFeatures:
    """Reference of :func:`rbic_fast.parse_traces` (``threads`` and ``progress`` are accepted and ignored).

    :param texts: a list of str (None is an empty trace), a pyarrow string array (nulls are empty traces;
        invalid UTF-8 is decoded with U+FFFD replacement, as the native parser does) or a pandas Series or Index
        of str (missing values are empty traces).
    :param lexicon: None, a JSON path or a dict (see :func:`rbic_fast.parse_traces`).
    :return: the features, one row per text.
    """
    lex = load_lexicon(lexicon)
    if hasattr(texts, "type") and hasattr(texts, "buffers"):
        texts = _arrow_to_str(texts)
    elif type(texts).__module__.startswith("pandas"):  # missing values (None, NaN, pd.NA) are empty traces
        texts = [None if t is None or type(t).__name__ == "NAType" or (isinstance(t, float) and t != t) else t
                 for t in texts]
    rows = [features(t if t is not None else "", lex) for t in texts]
    n = len(rows)
    ints = np.zeros((len(FEATURE_COLUMNS), n), dtype=np.int64)
    red = np.zeros(n, dtype=np.float32)
    lang = np.zeros(n, dtype=np.uint8)
    for r, (vals, redundancy, code) in enumerate(rows):
        ints[:, r] = vals
        red[r] = redundancy
        lang[r] = code
    return TraceFeatures._from_arrays(ints, red, lang)


def _arrow_to_str(arr: Any) -> list[str | None]:
    """Decode a pyarrow (large_)string array row by row with U+FFFD replacement of invalid UTF-8."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        return [t for chunk in arr.chunks for t in _arrow_to_str(chunk)]
    binary = arr.cast(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary(), safe=False)
    return [None if v is None else v.decode("utf-8", "replace") for v in binary.to_pylist()]


__all__ = ["LANGS", "parse_traces", "steps", "think_part"]
