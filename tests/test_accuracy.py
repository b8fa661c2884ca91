import numpy as np
import pytest
from rbic_fast.accuracy import (
    SamplingConfig,
    TransformersBackend,
    check_answers,
    check_model_path,
    difficulty_from_accuracy,
    extract_answer,
    measure_accuracy,
    proxy_accuracy,
    stratified_label_mask,
    tiers_from_accuracy,
)


def test_tiers_follow_design_thresholds():
    p = np.array([1.0, 0.875, 0.75, 0.625, 0.5, 0.25, 0.125, 0.0])
    assert tiers_from_accuracy(p, 8).tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    # continuous (propagated) values: within half a sample of 0 or 1 count as 0 or 1
    assert tiers_from_accuracy(np.array([0.97, 0.93, 0.03, 0.07]), 8).tolist() == [0, 1, 4, 3]
    d = difficulty_from_accuracy(p, tiers_from_accuracy(p, 8), 8)
    assert d[0] == 0.0 and np.all(np.diff(d[1:]) > 0)  # T0 gets 0; otherwise harder -> larger
    assert d[-1] == pytest.approx(1 - 1 / 10)
    with pytest.raises(ValueError, match="NaN"):
        tiers_from_accuracy(np.array([np.nan]))


def test_proxy_ranks_length_within_domain():
    tokens = np.array([10, 20, 30, 40, 50, 1000, 2000, 3000, 4000, 5000])
    domain = np.r_[np.zeros(5, int), np.ones(5, int)]
    acc, tier, diff = proxy_accuracy(tokens, domain)
    # each domain spans all five tiers, shortest = trivial, longest = unsolved, whatever the absolute lengths
    assert tier.tolist() == [0, 1, 2, 3, 4] * 2
    assert np.allclose(acc[:5], acc[5:]) and acc[0] > acc[4]
    assert diff[0] == 0 and diff[4] > diff[3]


def test_stratified_label_mask():
    domain = np.r_[np.zeros(100, int), np.ones(20, int), np.full(3, 2)]
    m = stratified_label_mask(domain, 0.2, seed=1)
    assert m[domain == 0].sum() == 20 and m[domain == 1].sum() == 8 and m[domain == 2].sum() == 3
    assert np.array_equal(m, stratified_label_mask(domain, 0.2, seed=1))
    eligible = np.arange(domain.size) % 2 == 0
    m2 = stratified_label_mask(domain, 0.5, eligible=eligible)
    assert not m2[~eligible].any()
    with pytest.raises(ValueError, match="fraction"):
        stratified_label_mask(domain, 0.0)


def test_extract_answer():
    assert extract_answer(r"so \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
    assert extract_answer("steps\n#### 1,234") == "1,234"
    assert extract_answer("Thus the answer is 17.\n") == "17"
    assert extract_answer("we get 3 then 4,500 apples") == "4500"
    assert extract_answer("") is None


def test_check_answers_with_math_verify_in_processes():
    pytest.importorskip("math_verify")
    golds = ["72", "0.5", "72", "C", "C", r"\frac{1}{3}"]
    gens = [
        r"so \boxed{72}",
        r"\boxed{\frac{1}{2}}",
        r"\boxed{71}",
        r"The answer is \boxed{C}",
        "Answer: B",
        r"\boxed{2/6}",
    ]
    assert check_answers(golds, gens, workers=2, chunk=2).tolist() == [True, True, False, True, False, True]
    with pytest.raises(ValueError, match="gold"):
        check_answers(["1"], [])


class _Canned:
    """Known completions per question (DESIGN §6.2: canned answers where a test needs known correctness)."""

    def __init__(self, answers):
        self.answers = answers
        self.prompts = []

    def prompt(self, question, lang="en"):
        return question

    def generate(self, prompts, sampling):
        self.prompts.extend(prompts)
        return [self.answers[p][: sampling.n] for p in prompts]


def test_measure_accuracy_counts_verified_answers_and_tiers():
    pytest.importorskip("math_verify")
    backend = _Canned(
        {
            "q1": [r"\boxed{4}"] * 4,
            "q2": [r"\boxed{4}", r"\boxed{5}", r"\boxed{4}", r"\boxed{9}"],
            "q3": [r"\boxed{1}"] * 4,
        }
    )
    counts = measure_accuracy(backend, ["q1", "q2", "q3"], ["4", "4", "7"], SamplingConfig(n=4), workers=1)
    assert counts.tolist() == [4, 2, 0]
    assert tiers_from_accuracy(counts / 4, 4).tolist() == [0, 2, 4]


def test_transformers_backend_generates_and_is_checked(tiny_lm):
    pytest.importorskip("math_verify")
    backend = TransformersBackend(tiny_lm, batch_size=2, device="cpu")
    prompt = backend.prompt("What is 2+2?")
    assert prompt.startswith("[user] What is 2+2?") and prompt.endswith("[assistant] ")
    assert "\\boxed{}" in prompt  # the step-by-step suffix
    sampling = SamplingConfig(n=3, max_new_tokens=6, seed=1)
    outs = backend.generate([backend.prompt(q) for q in ("a?", "b?", "c?")], sampling)
    assert len(outs) == 3 and all(len(o) == 3 and all(isinstance(t, str) for t in o) for o in outs)
    again = backend.generate([backend.prompt(q) for q in ("a?", "b?", "c?")], sampling)
    assert outs == again  # seeded sampling is reproducible
    counts = measure_accuracy(backend, ["What is 2+2?", "What is 3+3?"], ["4", "6"], sampling, workers=1)
    assert counts.shape == (2,) and counts.dtype == np.int32 and ((counts >= 0) & (counts <= 3)).all()


def test_model_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_path(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="config.json"):
        check_model_path(tmp_path)


def test_vllm_backend(tiny_lm):
    pytest.importorskip("vllm")
    from rbic_fast.accuracy import VllmBackend

    backend = VllmBackend(tiny_lm, max_model_len=256, gpu_memory_utilization=0.3)
    outs = backend.generate([backend.prompt("What is 2+2?")], SamplingConfig(n=2, max_new_tokens=8))
    assert len(outs) == 1 and len(outs[0]) == 2
