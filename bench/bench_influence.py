"""Throughput of influence features, LM losses and greedy k-center on CPU.

Run: ``PYTHONPATH=python pytest bench/bench_influence.py --benchmark-only``. Samples/s are stored in each
benchmark's ``extra_info``. The tiny model stands in for the ~100M-parameter GPU bar of issue 5, which needs a
GPU machine.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rbic_fast.strategies import greedy_kcenter
from rbic_fast.strategies.influence import add_lora, lm_gradient_features
from rbic_fast.strategies.lm_scores import answer_losses
from rbic_fast.synthetic import clustered_embeddings

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

N_SEQ, PROMPT_LEN, ANSWER_LEN = 256, 32, 96  # enough rows to amortise generating the projection


class ByteTokenizer:
    bos_token_id, pad_token_id, eos_token_id = 256, 257, None

    def encode(self, text, add_special_tokens=False):
        return list(text.encode())


@pytest.fixture(scope="module")
def tiny():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=258, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256)
    model = LlamaForCausalLM(config).eval()
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789 +="))
    prompts = ["".join(rng.choice(letters, PROMPT_LEN)) for _ in range(N_SEQ)]
    answers = ["".join(rng.choice(letters, ANSWER_LEN)) for _ in range(N_SEQ)]
    return model, ByteTokenizer(), prompts, answers


def _rate(benchmark, n):
    benchmark.extra_info["samples_per_s"] = n / benchmark.stats.stats.mean
    benchmark.extra_info["torch_threads"] = torch.get_num_threads()


def test_features_all_linear(benchmark, tiny):
    # 81,920 gradient entries per example; the 81,920 x 1024 projection (335 MB) stays cached.
    model, tok, prompts, answers = tiny
    benchmark.pedantic(lambda: lm_gradient_features(model, tok, prompts, answers, dim=1024, batch_size=16),
                       rounds=3, warmup_rounds=1)
    _rate(benchmark, N_SEQ)


def test_features_lora(benchmark, tiny):
    # LoRA r=8 on q/v: 2,048 entries per example, projected to LESS's 8192 dimensions.
    model, tok, prompts, answers = tiny
    import copy

    lora = add_lora(copy.deepcopy(model), r=8, alpha=16, target_modules=["q_proj", "v_proj"])
    benchmark.pedantic(lambda: lm_gradient_features(lora, tok, prompts, answers, dim=8192, batch_size=16),
                       rounds=3, warmup_rounds=1)
    _rate(benchmark, N_SEQ)


def test_answer_losses_ifd(benchmark, tiny):
    model, tok, prompts, answers = tiny
    benchmark.pedantic(lambda: answer_losses(model, tok, prompts, answers, batch_size=16), rounds=3, warmup_rounds=1)
    _rate(benchmark, N_SEQ)


@pytest.mark.parametrize("impl", ["native", "native-1-thread", "numpy"])
def test_kcenter(benchmark, impl):
    x, _ = clustered_embeddings(20000, 384, n_clusters=200, seed=0)
    k = 100

    def numpy_kcenter():
        best = np.full(len(x), np.inf, dtype=np.float32)
        c = 0
        for _ in range(k):
            best = np.minimum(best, ((x - x[c]) ** 2).sum(axis=1))
            c = int(np.argmax(best))

    fn = {"native": lambda: greedy_kcenter(x, k), "native-1-thread": lambda: greedy_kcenter(x, k, threads=1),
          "numpy": numpy_kcenter}[impl]
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    benchmark.extra_info["centres_per_s"] = k / benchmark.stats.stats.mean
