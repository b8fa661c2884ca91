"""Influence pruning, perplexity and IFD on models built in the test (CPU, no downloads).

* closed form: L2-regularised logistic regression, where g_v^T H^-1 g_d is exact; the estimator runs the same
  hooks -> projection -> scoring path as for LMs;
* a tiny Llama trained on one-digit sums until it solves about half, validated on its own greedy answers.
"""

import numpy as np
import pytest

# peft (0.21) calls a transformers API that transformers 5 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rbic_fast.budget import Budget
from rbic_fast.strategies import InfluenceScores, StrategyInput, Validation, pruning_order, select
from rbic_fast.strategies.influence import (
    RandomProjector,
    adam_moments,
    gradient_features,
    influence_scores,
    lm_gradient_features,
    per_example_gradients,
    target_modules,
)
from rbic_fast.strategies.lm_scores import answer_losses, causal_lm_losses, collate, encode_pairs
from scipy.stats import spearmanr


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # The CI machine has 2 shared cores; one thread is faster and bitwise reproducible.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------------- logistic closed form
def bce(model, batch):
    x, y = batch
    return torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(-1), y, reduction="none")


def stack(items):
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


@pytest.fixture(scope="module")
def logistic():
    rng = np.random.default_rng(0)
    n, m, d, lam = 400, 40, 8, 1e-2
    w = rng.standard_normal(d)
    x = rng.standard_normal((n + m, d)).astype(np.float32)
    y = (rng.random(n + m) < 1 / (1 + np.exp(-(x @ w)))).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Linear(d, 1)
    xt, yt = torch.tensor(x[:n]), torch.tensor(y[:n])
    opt = torch.optim.LBFGS(model.parameters(), max_iter=500, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = bce(model, (xt, yt)).mean() + 0.5 * lam * sum((p**2).sum() for p in model.parameters())
        loss.backward()
        return loss

    opt.step(closure)
    theta = torch.cat([model.weight.detach().ravel(), model.bias.detach()]).double().numpy()
    x1 = np.hstack([x, np.ones((n + m, 1))])
    p = 1 / (1 + np.exp(-(x1 @ theta)))
    grads = (p - y)[:, None] * x1  # exact per-example gradients of the BCE
    hessian = (x1[:n] * (p[:n] * (1 - p[:n]))[:, None]).T @ x1[:n] / n + lam * np.eye(d + 1)
    correct = (p[n:] > 0.5) == (y[n:] > 0.5)
    items = [(torch.tensor(a), torch.tensor(b)) for a, b in zip(x, y)]
    return {"model": model, "items": items, "grads": grads, "hessian": hessian, "correct": correct, "n": n, "lam": lam}


def test_per_example_gradients_are_exact(logistic):
    model, items = logistic["model"], logistic["items"]
    blocks, _ = per_example_gradients(model, target_modules(model), bce, stack(items[:32]))
    got = torch.cat(blocks, dim=1).double().numpy()
    np.testing.assert_allclose(got, logistic["grads"][:32], rtol=1e-4, atol=1e-6)


def test_estimator_ranks_like_the_exact_influence_function(logistic):
    n, grads, h, correct = logistic["n"], logistic["grads"], logistic["hessian"], logistic["correct"]
    assert 5 <= (~correct).sum() and 5 <= correct.sum()
    exact_c = grads[:n] @ np.linalg.solve(h, grads[n:][correct].mean(axis=0))
    exact_i = grads[:n] @ np.linalg.solve(h, grads[n:][~correct].mean(axis=0))
    feats = gradient_features(logistic["model"], logistic["items"], stack, bce, dim=64, seed=0, batch_size=32)
    est = influence_scores(feats.features[:n], feats.features[n:], correct, scoring="fisher", damping=logistic["lam"])
    assert spearmanr(est.s_correct, exact_c)[0] >= 0.9
    assert spearmanr(est.s_incorrect, exact_i)[0] >= 0.9
    # The losses come for free and are the per-example BCE.
    assert np.isfinite(feats.loss).all()


def test_projection_is_seeded_and_preserves_inner_products():
    rng = np.random.default_rng(0)
    a = torch.tensor(rng.standard_normal((6, 3000)), dtype=torch.float32)
    b = torch.tensor(rng.standard_normal((6, 500)), dtype=torch.float32)
    proj = RandomProjector([3000, 500], 4096, seed=1, chunk_rows=1024)
    pa = proj([a, b]).numpy()
    np.testing.assert_array_equal(pa, RandomProjector([3000, 500], 4096, seed=1, chunk_rows=1024)([a, b]).numpy())
    assert not np.allclose(pa, RandomProjector([3000, 500], 4096, seed=2, chunk_rows=1024)([a, b]).numpy())
    full = torch.cat([a, b], dim=1).numpy()
    exact = full @ full.T
    assert np.abs(pa @ pa.T - exact).max() < 0.1 * np.abs(np.diag(exact)).max()
    uncached = RandomProjector([3000, 500], 4096, seed=1, chunk_rows=1024, cache_bytes=0)
    np.testing.assert_allclose(uncached([a, b]).numpy(), pa, rtol=1e-6)


# ------------------------------------------------------------------------------------------ pruning rules
def test_rank_score_formula():
    s = InfluenceScores(s_correct=np.array([3.0, 1.0, 2.0, 4.0]), s_incorrect=np.array([0.0, 5.0, 1.0, 2.0]))
    # rank↑(s_C) = [3, 1, 2, 4]; rank↓(s_I) = [4, 1, 3, 2]
    np.testing.assert_allclose(s.rank_score, 0.5 * np.array([7, 2, 5, 6]) / 4)
    assert pruning_order(s, "rank").tolist() == [0, 3, 2, 1]


def test_union_rule_prefixes_are_what_survives():
    rng = np.random.default_rng(0)
    s = InfluenceScores(s_correct=rng.standard_normal(50), s_incorrect=rng.standard_normal(50))
    order = pruning_order(s, "union")
    for q in range(26):
        removed = set(np.argsort(s.s_correct)[:q]) | set(np.argsort(-s.s_incorrect)[:q])
        kept = 50 - len(removed)
        assert set(order[:kept].tolist()) == set(range(50)) - removed
    with pytest.raises(ValueError, match="rule"):
        pruning_order(s, "both")


def test_scores_validate_shapes():
    with pytest.raises(ValueError, match="do not match"):
        influence_scores(np.zeros((3, 4)), np.zeros((2, 5)), np.array([True, False]))
    with pytest.raises(ValueError, match="scoring"):
        influence_scores(np.zeros((3, 4)), np.zeros((2, 4)), np.array([True, False]), scoring="ekfac")


# --------------------------------------------------------------------------------------------- tiny LM
TARGET_ACCURACY = 0.55


class CharTokenizer:
    chars = "0123456789+="
    bos_token_id, pad_token_id, eos_token_id = 12, 13, None

    def encode(self, text, add_special_tokens=False):
        return [self.chars.index(c) for c in text if c != "\n"]  # the prompt template's newline is no token


_TRAINED: dict = {}


def tiny_lm(seed):
    """A 2-layer Llama (hidden 32) trained on one-digit sums until it solves about half of them; validation:
    2 of its right and 2 of its wrong greedy answers; a 40-example pool of true sums plus three planted rows."""
    if seed in _TRAINED:
        return _TRAINED[seed]
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = CharTokenizer()
    config = LlamaConfig(vocab_size=14, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=16)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    rng = np.random.default_rng(seed)
    pairs = [(f"{a}+{b}=", str(a + b)) for a in range(10) for b in range(10)]
    enc = encode_pairs(tok, [p for p, _ in pairs], [a for _, a in pairs])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    everything = collate(enc, tok.pad_token_id, "cpu")

    def solved():
        # Greedy decoding is right iff every answer token is the argmax under teacher forcing.
        with torch.no_grad():
            pred = model(input_ids=everything["input_ids"]).logits[:, :-1].argmax(-1)
        target = everything["labels"][:, 1:]
        return ((pred == target) | (target == -100)).all(dim=1).numpy()

    # Train until the model solves about half of the sums, so it has both right and wrong answers.
    for step in range(600):
        model.train()
        batch = collate([enc[i] for i in rng.choice(len(enc), 32, replace=False)], tok.pad_token_id, "cpu")
        loss = causal_lm_losses(model, batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        if step >= 50 and step % 10 == 0 and solved().mean() >= TARGET_ACCURACY:
            break
    model.eval()

    def greedy(prompt, answer):
        n_tokens = len(answer)
        ids = [tok.bos_token_id] + tok.encode(prompt)
        with torch.no_grad():
            for _ in range(n_tokens):
                ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1, :10].argmax()))
        return "".join(tok.chars[i] for i in ids[-n_tokens:])

    right = solved()
    ok, bad = np.flatnonzero(right), np.flatnonzero(~right)
    rng.shuffle(ok)
    rng.shuffle(bad)
    assert len(ok) >= 24 and len(bad) >= 24, "the tiny model should be half-trained"
    picks = list(ok[:2]) + list(bad[:2])
    validation = Validation(question=[pairs[i][0] for i in picks], answer=[greedy(*pairs[i]) for i in picks],
                            correct=np.array([True, True, False, False]))
    pool = [pairs[i] for i in np.concatenate([ok[2:22], bad[2:22]])]
    # A duplicate of a correctly answered validation example, and a training example whose answer is
    # corrupted to the model's own wrong answer of an incorrect validation example (plus its clean version).
    train = pool + [(validation.question[0], validation.answer[0]), (validation.question[2], validation.answer[2]),
                    pairs[bad[0]]]
    _TRAINED[seed] = {"model": model, "tok": tok, "opt": opt, "validation": validation, "train": train,
                      "n_pool": len(pool)}
    return _TRAINED[seed]


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(0)


def as_input(pairs):
    n = len(pairs)
    return StrategyInput(ids=[str(i) for i in range(n)], question=[p for p, _ in pairs], reasoning=[""] * n,
                         response=[a for _, a in pairs], tokens=np.array([len(p) + len(a) for p, a in pairs]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicate_ranks_high_on_s_c_and_corrupted_high_on_s_i(seed):
    # Planted rows: k = duplicate of a correctly answered validation example; k + 1 = the question of an
    # incorrectly answered one with the model's wrong answer (a corrupted answer); k + 2 = its true answer.
    # With the LESS cosine and 2 + 2 validation answers both planted rows land in the top 5 of 43 on each of
    # 8 seeds tried (top 3 fails on 2 of them); three are run here.
    lm = tiny_lm(seed)
    model, tok, val, train, k = lm["model"], lm["tok"], lm["validation"], lm["train"], lm["n_pool"]
    tf = lm_gradient_features(model, tok, [p for p, _ in train], [a for _, a in train], dim=512, batch_size=8)
    vf = lm_gradient_features(model, tok, val.question, val.answer, dim=512)
    s = influence_scores(tf.features, vf.features, val.correct)
    assert (s.s_correct > s.s_correct[k]).sum() < 5
    assert (s.s_incorrect > s.s_incorrect[k + 1]).sum() < 5
    assert s.s_incorrect[k + 1] > s.s_incorrect[k + 2]
    # The Adam-aware (LESS) training features differ from the plain gradients.
    ta = lm_gradient_features(model, tok, [p for p, _ in train], [a for _, a in train], dim=512,
                              adam_state=adam_moments(model, lm["opt"]))
    assert np.isfinite(ta.features).all() and not np.allclose(ta.features, tf.features)


def test_padding_and_batching_do_not_change_features(lm):
    model, tok, train = lm["model"], lm["tok"], lm["train"]
    prompts, answers = [p for p, _ in train], [a for _, a in train]
    a = lm_gradient_features(model, tok, prompts, answers, dim=64, batch_size=1)
    b = lm_gradient_features(model, tok, prompts, answers, dim=64, batch_size=16)
    np.testing.assert_allclose(a.features, b.features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)


def test_features_are_cached_on_disk(lm, tmp_path, monkeypatch):
    from rbic_fast.strategies import influence

    model, tok, train = lm["model"], lm["tok"], lm["train"]
    prompts, answers = [p for p, _ in train], [a for _, a in train]
    first = lm_gradient_features(model, tok, prompts, answers, dim=32, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("influence-*.features.npy"))) == 1

    def boom(*a, **k):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(influence, "gradient_features", boom)
    again = lm_gradient_features(model, tok, prompts, answers, dim=32, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.features, first.features)
    with pytest.raises(AssertionError, match="recomputed"):  # another setting is another key
        lm_gradient_features(model, tok, prompts, answers, dim=32, seed=1, cache_dir=tmp_path)


def direct_ce(model, ids, start):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    return float(-np.mean([logp[t - 1, ids[t]].item() for t in range(start, len(ids))]))


def test_perplexity_and_ifd_equal_a_direct_computation(lm):
    model, tok, train = lm["model"], lm["tok"], lm["train"]
    prompts, answers = [p for p, _ in train], [a for _, a in train]
    got = answer_losses(model, tok, prompts, answers, batch_size=5)
    bos = tok.bos_token_id
    for i, (p, a) in enumerate(train):
        q_ids, a_ids = tok.encode(p), tok.encode(a)
        cond = direct_ce(model, [bos] + q_ids + a_ids, 1 + len(q_ids))
        uncond = direct_ce(model, [bos] + a_ids, 1)
        assert got.conditional[i] == pytest.approx(cond, rel=1e-5)
        assert got.unconditional[i] == pytest.approx(uncond, rel=1e-5)
    np.testing.assert_allclose(got.ifd, got.conditional / got.unconditional)
    np.testing.assert_allclose(got.perplexity, np.exp(got.conditional))


def test_without_bos_the_first_answer_token_is_left_out_of_both(lm):
    class NoBos(CharTokenizer):
        bos_token_id = None

    model, tok = lm["model"], NoBos()
    got = answer_losses(model, tok, ["3+4="], ["17"])
    assert got.conditional[0] == pytest.approx(direct_ce(model, tok.encode("3+4=17"), 5), rel=1e-5)
    assert got.unconditional[0] == pytest.approx(direct_ce(model, tok.encode("17"), 1), rel=1e-5)


@pytest.mark.parametrize("name, options", [
    ("perplexity", {}), ("perplexity", {"keep": "middle"}), ("ifd", {}),
    ("influence", {"dim": 64}), ("influence", {"dim": 64, "rule": "union", "scoring": "inner"}),
])
@pytest.mark.parametrize("budget", [Budget(count=7), Budget(ratio=0.25), Budget(token_share=0.2)])
def test_lm_strategies_meet_the_budget_and_are_deterministic(lm, name, options, budget):
    inp = as_input(lm["train"])
    kw = dict(model=lm["model"], tokenizer=lm["tok"], **options)
    if name == "influence":
        kw["validation"] = lm["validation"]
    mask = select(name, inp, budget, seed=0, **kw)
    if budget.token_share is None:
        assert mask.sum() == budget.n_samples(inp.n)
    else:
        assert inp.tokens[mask].sum() <= np.floor(budget.token_share * inp.tokens.sum())
    np.testing.assert_array_equal(select(name, inp, budget, seed=0, **kw), mask)


def test_ifd_order_follows_the_cherry_rule(lm):
    from rbic_fast.strategies import order_of

    inp = as_input(lm["train"])
    order = order_of("ifd", inp, model=lm["model"], tokenizer=lm["tok"])
    ifd = answer_losses(lm["model"], lm["tok"], inp.question, inp.response).ifd
    keep = ifd <= 1
    head = ifd[order[: keep.sum()]]
    assert (head <= 1).all() and (np.diff(head) <= 0).all()
    assert (np.diff(ifd[order[keep.sum():]]) >= 0).all()


def test_lora_adapters_are_the_default_targets(lm):
    pytest.importorskip("peft")
    import copy

    from rbic_fast.strategies.influence import add_lora

    model = add_lora(copy.deepcopy(lm["model"]), r=4, alpha=8, target_modules=["q_proj", "v_proj"], seed=0)
    names = [n for n, _ in target_modules(model)]
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    train = lm["train"]
    f = lm_gradient_features(model, lm["tok"], [p for p, _ in train], [a for _, a in train], dim=64)
    assert np.isfinite(f.features).all() and np.abs(f.features).sum() > 0
    inp = as_input(train)
    mask = select("influence", inp, Budget(count=10), model=lm["model"], tokenizer=lm["tok"],
                  validation=lm["validation"], lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
                  dim=64)
    assert mask.sum() == 10
    assert not any("lora" in n for n, _ in lm["model"].named_modules())  # adapters removed again


def test_validation_from_generations_with_math_verify():
    pytest.importorskip("math_verify")
    val = Validation.from_generations(["1+1=", "2+2="], ["2", "4"], lambda qs: ["$2$", "5"])
    assert val.correct.tolist() == [True, False]
    val = Validation.from_generations(["q"], ["x"], lambda qs: ["y"], check=lambda ref, ans: True)
    assert val.correct.tolist() == [True]
    with pytest.raises(ValueError, match="generate returned 0 answers"):
        Validation.from_generations(["q"], ["x"], lambda qs: [])
    with pytest.raises(TypeError, match="bool"):
        Validation(question=["q"], answer=["a"], correct=np.array([1]))


def test_too_many_gradient_entries_is_a_clear_error(logistic):
    with pytest.raises(ValueError, match="add LoRA adapters"):
        gradient_features(logistic["model"], logistic["items"][:4], stack, bce, dim=8, max_entries=5)
    with pytest.raises(ValueError, match="no nn.Linear module named"):
        target_modules(logistic["model"], ["q_proj"])


def test_checkpoints_are_weighted_by_learning_rate():
    from rbic_fast.strategies.influence import combine_checkpoints

    a = InfluenceScores(s_correct=np.array([1.0, 0.0]), s_incorrect=np.array([0.0, 2.0]))
    b = InfluenceScores(s_correct=np.array([0.0, 1.0]), s_incorrect=np.array([4.0, 0.0]))
    c = combine_checkpoints([a, b], [3e-5, 1e-5])
    np.testing.assert_allclose(c.s_correct, [0.75, 0.25])
    np.testing.assert_allclose(c.s_incorrect, [1.0, 1.5])
    with pytest.raises(ValueError, match="one learning rate per checkpoint"):
        combine_checkpoints([a], [1.0, 2.0])
