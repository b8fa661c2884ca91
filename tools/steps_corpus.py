"""Reasoning texts from the dataset folders (../shared/data layout, or the tests/data/steps excerpts).

Every string value of every JSON record is a text (question, solution, trace, equation...), so the parser is
exercised on each field of each record. Used by the tests, tools/check_steps_equivalence.py and the bench.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def dataset_texts(root: str | Path) -> Iterator[tuple[str, str, str]]:
    """Yield ``(where, field, text)`` for every string of every record of every ``*.jsonl`` under root.

    :param root: a folder of dataset folders, each holding ``*.jsonl`` files.
    """
    for path in sorted(Path(root).rglob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                for field, text in _strings(json.loads(line), ""):
                    yield f"{path.relative_to(root)}:{line_no}", field, text
