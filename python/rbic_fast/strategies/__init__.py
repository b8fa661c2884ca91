"""Selection strategies: each turns the records into a priority order; :func:`select` cuts it to a budget.

Registered names: ``random``, ``length``, ``difficulty``, ``s1``, ``kcenter``, ``semdedup`` (baselines),
``perplexity``, ``ifd`` (LM losses) and ``influence`` (influence-based pruning). The LM-based ones import torch
only when run.
"""

from __future__ import annotations

from . import baselines, kcenter, lm_scores  # noqa: F401  (importing registers the strategies)
from .base import StrategyInput, get, names, order_of, ranked_select, register, select
from .influence import InfluenceScores, Validation, influence_scores, pruning_order
from .kcenter import KCenterResult, greedy_kcenter

__all__ = [
    "InfluenceScores", "KCenterResult", "StrategyInput", "Validation", "get", "greedy_kcenter",
    "influence_scores", "names", "order_of", "pruning_order", "ranked_select", "register", "select",
]
