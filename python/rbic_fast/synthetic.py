"""Seeded synthetic data for tests and benchmarks."""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from json.encoder import encode_basestring as _json_str  # the C encoder: quotes and escapes, keeps UTF-8
from pathlib import Path

import numpy as np

from . import _corpus_text as _text
from ._corpus_text import compile_template
from ._progress import ProgressArg, make_progress


def clustered_embeddings(
    n: int,
    d: int = 384,
    *,
    n_clusters: int = 200,
    spread: float = 0.5,
    seed: int = 0,
    dtype: np.dtype | type = np.float32,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """C Gaussian clusters on the unit sphere: the shape of sentence embeddings of a topical corpus.

    Cluster centres are uniform on the sphere; each point is its centre plus isotropic Gaussian noise of
    total norm about ``spread`` (per coordinate ``spread / sqrt(d)``), then L2-normalised.

    :param n: number of points.
    :param d: dimension.
    :param n_clusters: number of planted clusters (labels ``0..n_clusters-1``, sizes as equal as possible).
    :param spread: noise norm relative to the unit centre; 0.5 gives intra-cluster cosines around 0.8.
    :param seed: seed of the generator; the same arguments always give the same array.
    :param dtype: output dtype (float32 or float16).
    :param normalize: L2-normalise the rows (default), as sentence-transformers does.
    :return: ``(embeddings (n, d), labels (n,) int32)``.
    """
    if n < 0 or d <= 0 or n_clusters <= 0:
        raise ValueError(f"need n >= 0, d > 0, n_clusters > 0; got n={n}, d={d}, n_clusters={n_clusters}")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = (np.arange(n, dtype=np.int64) % n_clusters).astype(np.int32)
    rng.shuffle(labels)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x *= np.float32(spread / np.sqrt(d))
    x += centres[labels]
    if normalize:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype, copy=False), labels


# ----------------------------------------------------------------------------------------------------------------
# realistic synthetic corpus: R1-style traces + embeddings + ground truth
# ----------------------------------------------------------------------------------------------------------------

# records per unit of randomness: the output never depends on chunk_size, and corpus(n) is a prefix of corpus(n')
_BLOCK = 1024
_POOL = 1024  # filled fragments per (domain, language, segment type)
_N_ROLLOUTS = 8
_ZH_CHAR_RATIO = 0.4  # a Chinese trace has ~0.4x the characters of an English one of the same token count
_LENGTH_DIFFICULTY_CORR = 0.5  # correlation of log trace length with difficulty
_DIFFICULTY_SD = 0.25  # spread of difficulty (subtopic base + per-record noise), used to standardise it
_LOW_NOISE, _ISO_NOISE = 0.95, math.sqrt(1 - 0.95**2)  # noise amplitude split: subspace / isotropic
_GROUP_WEIGHT = 0.6
_MIN_CHARS = 300  # floor of the target reasoning length (English characters)
_DUP_PREFIX = {
    "en": ("", "Question: ", "Problem: ", "Please solve: "),
    "zh": ("", "题目：", "请回答：", "问题："),
}
_DUP_SUFFIX = {
    "en": ("", " Show your work.", " Explain your reasoning.", " Please answer step by step."),
    "zh": ("", "请写出解题过程。", "请一步一步思考。", "请说明理由。"),
}
_LANGS = ("en", "zh")
_ACCURACY_TEXT = tuple(repr(k / _N_ROLLOUTS) for k in range(_N_ROLLOUTS + 1))


@dataclass(frozen=True)
class CorpusInfo:
    """What :func:`write_corpus` wrote.

    :ivar path: the JSONL corpus (one record per line, Chinese-R1-Distill SFT or raw format, plus ``accuracy``).
    :ivar embeddings_path: float32 ``.npy`` of shape ``(n, d)``, row i = record i, unit rows.
    :ivar labels_path: Parquet ground truth, one row per record: ``domain`` (int16), ``domain_name``,
        ``subtopic`` (int16, global id over all domains), ``difficulty`` (float32 in [0, 1]), ``accuracy``
        (float32, the record's field), ``dup_of`` (int64 record index, -1 = original), ``lang`` (``en``/``zh``),
        ``reasoning_chars`` (int32).
    :ivar n: number of records.
    :ivar bytes: size of the JSONL file. :ivar embeddings_bytes: size of the ``.npy``.
    :ivar domain_names: names of the planted domains (index = ``domain``).
    :ivar subtopic_names: ``domain/subtopic`` names (index = ``subtopic``).
    :ivar n_zh: Chinese records. :ivar n_dup: near-duplicate records.
    """

    path: Path
    embeddings_path: Path
    labels_path: Path
    n: int
    bytes: int
    embeddings_bytes: int
    domain_names: tuple[str, ...]
    subtopic_names: tuple[str, ...]
    n_zh: int
    n_dup: int


@dataclass(frozen=True)
class _Plan:
    """Everything of a corpus that does not depend on n: fragment pools, domain and subtopic geometry."""

    n_domains: int
    n_sub: np.ndarray  # (D,) subtopics per domain
    sub_offset: np.ndarray  # (D,) global id of each domain's first subtopic
    domain_p: np.ndarray  # (D,) domain probabilities
    sub_cum: np.ndarray  # (D, S) cumulative subtopic probabilities (padded with 1)
    sub_difficulty: np.ndarray  # (D, S) base difficulty
    mean_difficulty: float  # expected difficulty of a record (centres the length-difficulty coupling)
    frags: np.ndarray  # (object) flat fragment pool, index ((dom * 2 + lang) * 4 + type) * _POOL + j
    frag_mean: np.ndarray  # (D, 2, 4) mean fragment length in characters
    resp: np.ndarray  # (object) flat response-step pool, index (dom * 2 + lang) * _POOL + j
    questions: list  # [dom][sub][lang] -> compiled question templates
    answers: list  # [dom] -> compiled answer templates
    opens: dict
    concludes: dict
    heads: dict
    tails: dict
    domain_centres: np.ndarray  # (D, d)
    sub_dirs: np.ndarray  # (D, S, d)
    difficulty_axis: np.ndarray  # (D, d)
    lang_dir: np.ndarray  # (d,)
    noise_basis: np.ndarray  # (noise_dim, d) orthonormal rows: the subspace most of the noise lives in


def _slots(rng: np.random.Generator, langs: np.ndarray) -> list[dict]:
    """One dict of slot values (see ``_corpus_text``) per entry of ``langs`` (0 en, 1 zh), drawn vectorised."""
    m = len(langs)
    a, b, c = (rng.integers(2, 100, m) for _ in range(3))
    big_a, big_b = rng.integers(100, 1000, m), rng.integers(100, 1000, m)
    x, y = rng.integers(2, 13, m), rng.integers(2, 13, m)
    r = rng.integers(10, 1000, m) / 10
    n1, step, it = rng.integers(0, 1 << 20, m), rng.integers(0, 1 << 20, m), rng.integers(0, 1 << 20, m)
    names = [_text.NAMES[lang] for lang in _LANGS]
    items = [_text.ITEMS[lang] for lang in _LANGS]
    cols = zip(
        langs.tolist(),
        a.tolist(),
        b.tolist(),
        c.tolist(),
        big_a.tolist(),
        big_b.tolist(),
        x.tolist(),
        y.tolist(),
        r.tolist(),
        n1.tolist(),
        step.tolist(),
        it.tolist(),
    )
    out = []
    for li, ai, bi, ci, ai2, bi2, xi, yi, ri, i1, i2, ii in cols:
        nm = names[li]
        out.append(
            {
                "a": ai,
                "b": bi,
                "c": ci,
                "A": ai2,
                "B": bi2,
                "x": xi,
                "y": yi,
                "s": ai + bi,
                "d": abs(ai - bi),
                "p": ai * bi,
                "q": f"{ai / bi:.2f}",
                "xy": xi * yi,
                "r": f"{ri:.1f}",
                "name": nm[i1 % len(nm)],
                "name2": nm[(i1 + 1 + i2 % (len(nm) - 1)) % len(nm)],
                "item": items[li][ii % len(items[li])],
            }
        )
    return out


_KEEP_CAPITAL = ("I ", "Newton's", "Ohm's", "Fermat's", "Vieta's", "Bayes'")
_CONNECTIVE_START = ("So ", "Since ", "Therefore", "Then ", "This ", "Thus", "所以", "因此", "由此", "于是")


def _with_lead(lead: str, sentence: str) -> str:
    """``lead`` ("Next, ", "因此，") + ``sentence``, lower-casing its first English word unless a proper name."""
    if not lead or sentence.startswith(_CONNECTIVE_START):
        return sentence
    if sentence[:1].isupper() and not sentence.startswith(_KEEP_CAPITAL):
        sentence = sentence[0].lower() + sentence[1:]
    return lead + sentence


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@functools.lru_cache(maxsize=2)  # ~0.5 s to build, ~20 MB; tests and benchmarks reuse a seed
def _plan(seed: int, n_domains: int, d: int, subtopic_spread: float, noise_dim: int) -> _Plan:
    text = _text
    rng = np.random.default_rng([seed, 0])
    domains = text.DOMAINS[:n_domains]
    n_sub = np.array([len(dm["subtopics"]) for dm in domains])
    s_max = int(n_sub.max())
    domain_p = (
        1.0 / np.arange(1, n_domains + 1) ** 0.6
    )  # a skewed mix: the first (arithmetic) domain is largest
    domain_p /= domain_p.sum()
    sub_cum = np.ones((n_domains, s_max))
    for k, ns in enumerate(n_sub):
        sub_cum[k, :ns] = np.cumsum(rng.dirichlet(np.full(ns, 4.0)))
        sub_cum[k, ns - 1] = 1.0
    sub_difficulty = rng.uniform(0.2, 0.8, (n_domains, s_max))
    sub_p = np.diff(sub_cum, axis=1, prepend=0.0)
    mean_difficulty = float(domain_p @ (sub_p * sub_difficulty).sum(axis=1))

    frags: list = []
    frag_mean = np.zeros((n_domains, 2, 4))
    resp: list = []
    for k, dm in enumerate(domains):
        for li, lang in enumerate(_LANGS):
            steps = [compile_template(t) for t in dm["steps"][lang]]
            lead = text.LEAD[lang]
            sep = " " if lang == "en" else ""
            sl = _slots(rng, np.full(3 * _POOL, li))
            pick = rng.integers(0, len(steps), 3 * _POOL).tolist()
            leads = rng.integers(0, len(lead), 3 * _POOL).tolist()
            sent = [_with_lead(lead[leads[j]], steps[pick[j]].format_map(sl[j])) for j in range(3 * _POOL)]
            resp.extend(steps[pick[j]].format_map(sl[j]) for j in range(_POOL))
            n_sent = rng.integers(1, 4, _POOL).tolist()
            start = rng.integers(0, 3 * _POOL - 3, _POOL).tolist()
            pools = [[sep.join(sent[start[j] : start[j] + n_sent[j]]) for j in range(_POOL)]]
            for kind in (text.VERIFY, text.BACKTRACK, text.EXPLORE):
                tmpl = [compile_template(t) for t in kind[lang]]
                tk = rng.integers(0, len(tmpl), _POOL).tolist()
                body = rng.integers(0, 3 * _POOL, _POOL).tolist()
                sl2 = _slots(rng, np.full(_POOL, li))
                if kind is text.VERIFY:  # a verification follows its own computation
                    pools.append([sent[body[j]] + sep + tmpl[tk[j]].format_map(sl2[j]) for j in range(_POOL)])
                else:  # an opener ("Wait, ...", "Alternatively, ...") followed by redone work
                    pools.append([tmpl[tk[j]].format_map(sl2[j]) + sent[body[j]] for j in range(_POOL)])
            for t, pool in enumerate(pools):
                frag_mean[k, li, t] = np.mean([len(s) for s in pool])
                frags.extend(pool)
    questions = [
        [
            {lang: [compile_template(t) for t in sub[lang]] for lang in _LANGS}
            for sub in dm["subtopics"].values()
        ]
        for dm in domains
    ]
    answers = [[compile_template(t) for t in dm["answers"]] for dm in domains]

    def comp(table: dict) -> dict:
        return {lang: [compile_template(t) for t in table[lang]] for lang in _LANGS}

    # domains of the same source (math / stem / code) share part of their centre: cosine ~0.36 between them
    sources = sorted({dm["source"] for dm in domains})
    group = _unit(rng.standard_normal((len(sources), d)))
    own = _unit(rng.standard_normal((n_domains, d)))
    centres = _unit(
        _GROUP_WEIGHT * group[[sources.index(dm["source"]) for dm in domains]]
        + math.sqrt(1 - _GROUP_WEIGHT**2) * own
    )
    sub_dirs = _unit(rng.standard_normal((n_domains, s_max, d))) * subtopic_spread
    return _Plan(
        n_domains=n_domains,
        n_sub=n_sub,
        sub_offset=np.concatenate([[0], np.cumsum(n_sub)[:-1]]),
        domain_p=domain_p,
        sub_cum=sub_cum,
        sub_difficulty=sub_difficulty,
        mean_difficulty=mean_difficulty,
        frags=np.array(frags, dtype=object),
        frag_mean=frag_mean,
        resp=np.array(resp, dtype=object),
        questions=questions,
        answers=answers,
        opens=comp(text.OPEN),
        concludes=comp(text.CONCLUDE),
        heads=text.RESPONSE_HEAD,
        tails=comp(text.RESPONSE_TAIL),
        domain_centres=centres,
        sub_dirs=sub_dirs,
        difficulty_axis=_unit(rng.standard_normal((n_domains, d))),
        lang_dir=_unit(rng.standard_normal(d)),
        noise_basis=np.linalg.qr(rng.standard_normal((d, min(noise_dim, d))))[0].T.astype(np.float32),
    )


@dataclass(frozen=True)
class _Settings:
    d: int
    zh_share: float
    dup_share: float
    median_chars: float
    length_sigma: float
    max_chars: int
    noise: float
    dup_noise: float
    mix_share: float
    record_format: str


def _segment_weights(diff: np.ndarray) -> np.ndarray:
    """(m, 4) probabilities of step / verify / backtrack / explore paragraphs: harder -> more of the last three."""
    w = np.stack([np.ones_like(diff), 0.04 + 0.30 * diff, 0.01 + 0.35 * diff**2, 0.02 + 0.20 * diff], axis=1)
    return w / w.sum(axis=1, keepdims=True)


def _tokens(text: str, zh: int) -> int:
    return math.ceil(len(text) / (1.5 if zh else 4.0))  # rbic_fast.io.estimate_tokens without the lang string


def _block(plan: _Plan, cfg: _Settings, seed: int, b: int, m: int) -> tuple[list[str], np.ndarray, dict]:
    """Records ``b * _BLOCK ..`` + m of the corpus: JSONL lines, (m, d) float32 embeddings, ground-truth columns.

    All draws are made for the whole block whatever ``m`` is, so a shorter corpus is a prefix of a longer one.
    """
    rng = np.random.default_rng([seed, 1, b])
    nb, start = _BLOCK, b * _BLOCK
    dom = np.minimum(
        np.searchsorted(np.cumsum(plan.domain_p), rng.random(nb), side="right"), plan.n_domains - 1
    )
    sub = (rng.random(nb)[:, None] > plan.sub_cum[dom]).sum(axis=1)
    lang = (rng.random(nb) < cfg.zh_share).astype(np.int64)
    diff = np.clip(plan.sub_difficulty[dom, sub] + 0.15 * rng.standard_normal(nb), 0.01, 0.99)
    z = rng.standard_normal(nb)
    numbered = rng.random(nb) < 0.2
    score = np.where(rng.random(nb) < 0.95, 10, rng.integers(5, 10, nb))
    choice = rng.integers(0, 1 << 30, (nb, 8))
    # near-duplicates: a light edit of an earlier original record of the same block
    is_dup = rng.random(nb) < cfg.dup_share
    is_dup[0] = False
    u_src = rng.random(nb)
    # bridge records: the embedding leans towards a subtopic of another domain (a physics question that is mostly
    # algebra); with weight > 0.5 it sits closer to the other domain, which keeps domain recovery from being trivial
    is_mix = (rng.random(nb) < cfg.mix_share) & (plan.n_domains > 1)
    other = (dom + 1 + rng.integers(0, 1 << 30, nb) % max(plan.n_domains - 1, 1)) % plan.n_domains
    other_sub = (rng.random(nb) * plan.n_sub[other]).astype(np.int64)
    mix_w = rng.uniform(0.25, 0.65, nb)
    originals = np.flatnonzero(~is_dup)
    n_before = np.searchsorted(originals, np.arange(nb))
    is_dup &= n_before > 0
    src = np.where(is_dup, originals[np.minimum((u_src * n_before).astype(np.int64), n_before - 1)], -1)
    dups = np.flatnonzero(is_dup)
    for arr in (dom, sub, lang, diff, z, numbered, is_mix, other, other_sub, mix_w):
        arr[dups] = arr[src[dups]]
    p_correct = 1.0 / (1.0 + np.exp(10.0 * (diff - plan.mean_difficulty)))
    k_correct = rng.binomial(_N_ROLLOUTS, p_correct)  # a duplicate gets its own rollouts of the same problem

    rho = _LENGTH_DIFFICULTY_CORR
    log_t = np.log(cfg.median_chars) + cfg.length_sigma * (
        math.sqrt(1 - rho**2) * z + rho * (diff - plan.mean_difficulty) / _DIFFICULTY_SD
    )
    target = np.clip(np.exp(log_t), _MIN_CHARS, cfg.max_chars) * np.where(lang == 1, _ZH_CHAR_RATIO, 1.0)

    # questions and answers (record-specific numbers), then the number of paragraphs that reaches the target length
    slots = _slots(rng, lang)
    questions: list[str] = []
    answers: list[str] = []
    for i in range(nb):
        li, lg = int(lang[i]), _LANGS[lang[i]]
        ch = choice[i]
        if is_dup[i]:
            j = int(src[i])
            pre, suf = _DUP_PREFIX[lg][ch[0] % 4], _DUP_SUFFIX[lg][ch[1] % 4]
            if not pre and not suf:
                suf = _DUP_SUFFIX[lg][1]
            questions.append(pre + questions[j] + (" " if li == 0 and suf else "") + suf.lstrip())
            answers.append(answers[j])
            continue
        tmpl = plan.questions[dom[i]][sub[i]][lg]
        questions.append(tmpl[ch[0] % len(tmpl)].format_map(slots[i]))
        ans = plan.answers[dom[i]]
        answers.append(ans[ch[1] % len(ans)].format_map(slots[i]))
    qlen = np.fromiter((len(q) for q in questions), dtype=np.float64, count=nb)
    weights = _segment_weights(diff)
    seg_len = (weights * plan.frag_mean[dom, lang]).sum(axis=1) + 2.0
    nseg = np.maximum(1, np.rint((target - qlen - 80.0) / seg_len)).astype(np.int64)
    nseg[dups] = nseg[src[dups]]
    offs = np.concatenate([[0], np.cumsum(nseg)])
    rec = np.repeat(np.arange(nb), nseg)
    kind = (rng.random(len(rec))[:, None] > np.cumsum(weights, axis=1)[rec, :3]).sum(axis=1)
    pick = rng.integers(0, _POOL, len(rec))
    gid = ((dom * 2 + lang)[rec] * 4 + kind) * _POOL + pick
    for i in dups:  # the source's paragraphs with one of them redrawn
        j, n = src[i], nseg[i]
        gid[offs[i] : offs[i] + n] = gid[offs[j] : offs[j] + n]
        at = offs[i] + choice[i, 2] % n
        gid[at] += (1 + choice[i, 3] % (_POOL - 1) + gid[at] % _POOL) % _POOL - gid[at] % _POOL
    nresp = 2 + (3 * diff).astype(np.int64) + (rng.random(nb) < 0.5)
    nresp[dups] = nresp[src[dups]]
    roffs = np.concatenate([[0], np.cumsum(nresp)])
    rrec = np.repeat(np.arange(nb), nresp)
    rid = (dom * 2 + lang)[rrec] * _POOL + rng.integers(0, _POOL, len(rrec))
    for i in dups:
        rid[roffs[i] : roffs[i + 1]] = rid[roffs[src[i]] : roffs[src[i] + 1]]

    # embeddings: domain centre + subtopic offset (+ a bridge to another domain) + language and difficulty shifts + noise
    g = rng.standard_normal((nb, cfg.d), dtype=np.float32)
    g_low = rng.standard_normal((nb, len(plan.noise_basis)), dtype=np.float32) @ plan.noise_basis
    x = plan.domain_centres[dom] + plan.sub_dirs[dom, sub]
    w = np.where(is_mix, mix_w, 0.0)[:, None]
    x = (1 - w) * x + w * (plan.domain_centres[other] + plan.sub_dirs[other, other_sub])
    x += (
        0.3 * lang[:, None] * plan.lang_dir
        + (0.15 * (diff - plan.mean_difficulty) / _DIFFICULTY_SD)[:, None] * plan.difficulty_axis[dom]
    )
    # most noise in a shared low-dimensional subspace, as in real sentence embeddings: isotropic noise in 384
    # dimensions would make every cluster trivially separable (distances concentrate)
    x += (
        cfg.noise
        * (_LOW_NOISE * np.sqrt(cfg.d / len(plan.noise_basis)) * g_low + _ISO_NOISE * g)
        / math.sqrt(cfg.d)
    )
    x[dups] = x[src[dups]] + (cfg.dup_noise / math.sqrt(cfg.d)) * g[dups]
    emb = _unit(x[:m]).astype(np.float32)

    frags = plan.frags[gid[: offs[m]]].tolist()
    resp = plan.resp[rid[: roffs[m]]].tolist()
    lines: list[str] = []
    chars = np.empty(m, dtype=np.int32)
    for i in range(m):
        li, lg = int(lang[i]), _LANGS[lang[i]]
        ch = choice[i]
        paras = frags[offs[i] : offs[i + 1]]
        if numbered[i]:
            paras = [f"{k}. {p}" for k, p in enumerate(paras, 1)]
        opens, concl = plan.opens[lg], plan.concludes[lg]
        end = concl[ch[4] % len(concl)].format(ans=answers[i])
        think = "\n\n".join([opens[ch[5] % len(opens)].format(Q=questions[i]), *paras, end])
        if len(think) > cfg.max_chars:  # cut at a paragraph break, keep the conclusion
            cut = think.rfind("\n\n", 0, cfg.max_chars - len(end) - 2)
            think = think[: max(cut, 0)] + "\n\n" + end
        steps = "\n".join(f"{k}. {r}" for k, r in enumerate(resp[roffs[i] : roffs[i + 1]], 1))
        heads, tails = plan.heads[lg], plan.tails[lg]
        answer = (
            f"{heads[ch[6] % len(heads)]}\n\n{steps}\n\n{tails[ch[7] % len(tails)].format(ans=answers[i])}"
        )
        chars[i] = len(think)
        q = questions[i]
        repo = _json_str(f"synthetic/{_text.DOMAINS[dom[i]]['source']}")
        tail = (
            f', "repo_name": {repo}, "prompt_tokens_len": {_tokens(q, li)}, '
            f'"reasoning_content_tokens_len": {_tokens(think, li)}, "content_tokens_len": {_tokens(answer, li)}, '
            f'"score": {score[i]}, "accuracy": {_ACCURACY_TEXT[k_correct[i]]}}}\n'
        )
        rid_s = f'"synth-{start + i:09d}"'
        if cfg.record_format == "sft":
            out = f"<think>\n{think}\n</think>\n\n{answer}"
            lines.append(
                f'{{"id": {rid_s}, "instruction": {_json_str(q)}, "input": "", "output": {_json_str(out)}'
                + tail
            )
        else:
            lines.append(
                f'{{"id": {rid_s}, "input": {_json_str(q)}, "reasoning_content": {_json_str(think)}, '
                f'"content": {_json_str(answer)}' + tail
            )
    labels = {
        "domain": dom[:m].astype(np.int16),
        "subtopic": (plan.sub_offset[dom] + sub)[:m].astype(np.int16),
        "difficulty": diff[:m].astype(np.float32),
        "accuracy": (k_correct[:m] / _N_ROLLOUTS).astype(np.float32),
        "dup_of": np.where(is_dup, src + start, -1)[:m].astype(np.int64),
        "mix_domain": np.where(is_mix, other, -1)[:m].astype(np.int16),
        "lang": lang[:m].astype(np.int8),
        "reasoning_chars": chars,
    }
    return lines, emb, labels


def _labels_table(cols: list[dict], schema: object, names: object, langs: object) -> object:
    """One pyarrow table of ground-truth columns from the per-block dicts of :func:`_block`."""
    import pyarrow as pa

    c = {k: np.concatenate([t[k] for t in cols]) for k in cols[0]}
    c["domain_name"] = pa.DictionaryArray.from_arrays(c["domain"], names)
    c["lang"] = pa.DictionaryArray.from_arrays(c["lang"], langs)
    return pa.table({f.name: c[f.name] for f in schema}, schema=schema)


def write_corpus(
    path: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    embeddings_path: str | os.PathLike | None = None,
    labels_path: str | os.PathLike | None = None,
    d: int = 384,
    n_domains: int = 10,
    zh_share: float = 0.2,
    dup_share: float = 0.03,
    median_chars: float = 1500.0,
    length_sigma: float = 1.0,
    max_chars: int = 40_000,
    subtopic_spread: float = 0.35,
    noise: float = 1.0,
    noise_dim: int = 32,
    dup_noise: float = 0.1,
    mix_share: float = 0.1,
    record_format: str = "sft",
    chunk_size: int = 16_384,
    progress: ProgressArg = None,
) -> CorpusInfo:
    """Write a realistic synthetic reasoning corpus (JSONL), its embeddings (``.npy``) and its ground truth.

    **Records** look like the Chinese-DeepSeek-R1-Distill set (``record_format="sft"``: ``instruction`` /
    ``input`` / ``output`` with ``<think>…</think>`` then a numbered solution ending in ``\\boxed{}``;
    ``"raw"``: ``input`` / ``reasoning_content`` / ``content``), plus ``id``, ``repo_name``, the three token
    counts, ``score`` and ``accuracy`` (the share of 8 rollouts that were correct, ``k/8``), so the loader detects
    them and ``--accuracy-field accuracy`` reads the difficulty. Each record belongs to one of ``n_domains``
    knowledge domains (arithmetic, algebra, geometry, probability, number theory, calculus, physics, chemistry,
    biology, code; skewed sizes) and one of its subtopics, with its own question templates and vocabulary.

    **Difficulty** per record (subtopic base + noise) sets the accuracy (harder: fewer correct rollouts), the
    trace length (log length correlates 0.5 with difficulty) and the mix of paragraphs (harder: more
    verification, backtracking "Wait, …" / 等等，不对 and exploration "Alternatively, …").

    **Length**: the reasoning of an English record has ``median_chars`` characters in median, log-normal with
    ``length_sigma`` (mean = median · exp(σ²/2), 2.5 KB at the defaults), capped at ``max_chars``; a Chinese one
    has 0.4x the characters (about the same number of tokens). ``zh_share`` of the records are Chinese;
    ``dup_share`` are near-duplicates: a light edit (question prefix or suffix, one paragraph redrawn) of an
    earlier record, with an embedding at cosine > 0.95 from its source.

    **Embeddings** (unit rows): domain centre (domains of the same source — math, stem, code — share part of it)
    + subtopic offset of norm ``subtopic_spread`` + Chinese and difficulty shifts + Gaussian noise of norm
    ``noise``, 90% of its variance in a shared ``noise_dim``-dimensional subspace (isotropic noise in 384
    dimensions makes every cluster trivially separable). ``mix_share`` of the records are bridges whose
    embedding leans, with weight U(0.25, 0.65), towards a subtopic of another domain (ground truth
    ``mix_domain``). At the defaults the mean cosine is ~0.51 within a subtopic, ~0.45 across subtopics of a
    domain and ~0.1 across domains; kNN + Leiden recovers the domains with purity ~0.96 and ARI ~0.85-0.94.

    Records are generated in blocks of 1024 with a generator seeded by ``(seed, block)``, so the files are
    byte-identical for a seed whatever ``chunk_size`` and ``corpus(n)`` is a prefix of ``corpus(n')`` for
    n < n'. Text is written block by block and embeddings / labels every ``chunk_size`` records, so memory
    is O(chunk_size), not O(n): the whole process stays under ~300 MB resident at the defaults.

    :param path: output ``.jsonl`` (written atomically, like the other two files).
    :param n: number of records (>= 1).
    :param seed: seed; the same arguments always give the same bytes.
    :param embeddings_path: output float32 ``.npy`` (default: ``path`` with suffix ``.npy``).
    :param labels_path: output Parquet ground truth (default: ``<stem>.labels.parquet`` next to ``path``).
    :param d: embedding dimension (>= 8).
    :param n_domains: number of domains, 1..10 (the first ``n_domains`` of the list above).
    :param zh_share: share of Chinese records in [0, 1].
    :param dup_share: share of near-duplicates in [0, 0.5].
    :param median_chars: median reasoning length of English records in characters (>= 200).
    :param length_sigma: log-normal sigma of the length (>= 0).
    :param max_chars: cap of the reasoning length in characters (>= 2 * median_chars is sensible; > median).
    :param subtopic_spread: norm of the subtopic offsets (>= 0).
    :param noise: norm of the per-record embedding noise (>= 0).
    :param noise_dim: dimension of the subspace holding most of the noise (>= 1).
    :param dup_noise: norm of a near-duplicate's embedding perturbation, in [0, 0.3].
    :param mix_share: share of bridge records in [0, 1].
    :param record_format: ``"sft"`` or ``"raw"``.
    :param chunk_size: records whose embeddings and labels are buffered before each write (>= 1).
    :param progress: None/False, True (a tqdm bar) or a ``(done, total)`` callable.
    :return: a :class:`CorpusInfo`.
    :raises ValueError: an argument is out of range (the message names it and the allowed range).
    """
    from . import io as rio

    path = Path(path)
    checks = (
        (isinstance(n, (int, np.integer)) and n >= 1, f"n must be an integer >= 1, got {n!r}"),
        (d >= 8, f"d must be >= 8, got {d}"),
        (
            1 <= n_domains <= len(_text.DOMAINS),
            f"n_domains must be in 1..{len(_text.DOMAINS)}, got {n_domains}",
        ),
        (0.0 <= zh_share <= 1.0, f"zh_share must be in [0, 1], got {zh_share}"),
        (0.0 <= dup_share <= 0.5, f"dup_share must be in [0, 0.5], got {dup_share}"),
        (median_chars >= 200, f"median_chars must be >= 200, got {median_chars}"),
        (length_sigma >= 0, f"length_sigma must be >= 0, got {length_sigma}"),
        (max_chars > median_chars, f"max_chars ({max_chars}) must exceed median_chars ({median_chars})"),
        (
            subtopic_spread >= 0 and noise >= 0,
            f"subtopic_spread and noise must be >= 0, got {subtopic_spread}, {noise}",
        ),
        (
            0.0 <= dup_noise <= 0.3,
            f"dup_noise must be in [0, 0.3] (near-duplicates stay at cosine > 0.95), got {dup_noise}",
        ),
        (record_format in ("sft", "raw"), f"record_format must be 'sft' or 'raw', got {record_format!r}"),
        (noise_dim >= 1, f"noise_dim must be >= 1, got {noise_dim}"),
        (0.0 <= mix_share <= 1.0, f"mix_share must be in [0, 1], got {mix_share}"),
        (chunk_size >= 1, f"chunk_size must be >= 1, got {chunk_size}"),
        (
            path.suffix.lower() in (".jsonl", ".ndjson"),
            f"path must end in .jsonl or .ndjson, got {path.name!r}",
        ),
    )
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    emb_path = Path(embeddings_path) if embeddings_path is not None else path.with_suffix(".npy")
    lab_path = Path(labels_path) if labels_path is not None else path.with_name(path.stem + ".labels.parquet")
    if emb_path.suffix.lower() != ".npy":
        raise ValueError(f"embeddings_path must end in .npy, got {emb_path.name!r}")
    if len({path.resolve(), emb_path.resolve(), lab_path.resolve()}) != 3:
        raise ValueError("path, embeddings_path and labels_path must be three different files")
    import pyarrow as pa
    import pyarrow.parquet as pq

    plan = _plan(seed, n_domains, d, subtopic_spread, noise_dim)
    cfg = _Settings(
        d=d,
        zh_share=zh_share,
        dup_share=dup_share,
        median_chars=float(median_chars),
        length_sigma=length_sigma,
        max_chars=int(max_chars),
        noise=noise,
        dup_noise=dup_noise,
        mix_share=mix_share,
        record_format=record_format,
    )
    names = tuple(dm["key"] for dm in _text.DOMAINS[:n_domains])
    sub_names = tuple(f"{dm['key']}/{s}" for dm in _text.DOMAINS[:n_domains] for s in dm["subtopics"])
    schema = pa.schema(
        [
            ("domain", pa.int16()),
            ("domain_name", pa.dictionary(pa.int16(), pa.string())),
            ("subtopic", pa.int16()),
            ("difficulty", pa.float32()),
            ("accuracy", pa.float32()),
            ("dup_of", pa.int64()),
            ("mix_domain", pa.int16()),
            ("lang", pa.dictionary(pa.int8(), pa.string())),
            ("reasoning_chars", pa.int32()),
        ]
    )
    name_arr, lang_arr = pa.array(names), pa.array(_LANGS)
    report, close = make_progress(progress, "synthetic corpus")
    n_zh = n_dup = 0
    try:
        with (
            rio.atomic_path(path) as tmp,
            rio.atomic_path(emb_path) as tmp_emb,
            rio.atomic_path(lab_path) as tmp_lab,
        ):
            # the header and the file's full size come from open_memmap; rows are then written through a memmap of
            # each chunk's region only, so that resident memory stays O(chunk_size) (a memmap of the whole file
            # keeps every written page resident until it is closed)
            header = np.lib.format.open_memmap(tmp_emb, mode="w+", dtype=np.float32, shape=(n, d))
            emb_offset = header.offset
            del header
            writer = pq.ParquetWriter(tmp_lab, schema)
            try:
                with open(tmp, "wb") as fh:
                    xs: list[np.ndarray] = []
                    cols: list[dict] = []
                    chunk_lo = 0
                    for b in range(-(-n // _BLOCK)):
                        lo = b * _BLOCK
                        m = min(_BLOCK, n - lo)
                        lines, x, lab = _block(plan, cfg, seed, b, m)
                        fh.write("".join(lines).encode("utf-8"))
                        xs.append(x)
                        cols.append(lab)
                        n_zh += int(lab["lang"].sum())
                        n_dup += int((lab["dup_of"] >= 0).sum())
                        rows = lo + m - chunk_lo
                        if rows >= chunk_size or lo + m == n:
                            region = np.memmap(
                                tmp_emb,
                                dtype=np.float32,
                                mode="r+",
                                shape=(rows, d),
                                offset=emb_offset + chunk_lo * d * 4,
                            )
                            region[:] = np.concatenate(xs)
                            region.flush()
                            del region
                            writer.write_table(_labels_table(cols, schema, name_arr, lang_arr))
                            chunk_lo += rows
                            xs, cols = [], []
                        if report is not None:
                            report(lo + m, n)
            finally:
                writer.close()
            size, emb_size = tmp.stat().st_size, tmp_emb.stat().st_size
    finally:
        close()
    return CorpusInfo(
        path=path,
        embeddings_path=emb_path,
        labels_path=lab_path,
        n=int(n),
        bytes=size,
        embeddings_bytes=emb_size,
        domain_names=names,
        subtopic_names=sub_names,
        n_zh=n_zh,
        n_dup=n_dup,
    )
