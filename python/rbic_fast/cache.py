"""Stage cache of a refine run: ``OUT/cache/<stage>-<key>.npz`` with explicit keys.

A stage's key is a hash of everything its result depends on (the upstream stage keys, its own settings and
:data:`CACHE_VERSION`), so a rerun reuses exactly the stages whose inputs did not change: re-selecting with another
budget reuses all of them. Writes are atomic, so an interrupted run leaves only complete entries; long stages
store chunks (``<stage>-<key>.part<i>.npz``) so that a resumed run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_path

CACHE_VERSION = 1


def stage_key(stage: str, **inputs: Any) -> str:
    """Stable 16-hex key of a stage from JSON-serialisable inputs."""
    blob = json.dumps({"stage": stage, "version": CACHE_VERSION, **inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class StageCache:
    """Arrays per (stage, key) under ``root``; ``root=None`` disables caching (everything recomputes).

    :param root: cache folder (created on first write).
    """

    def __init__(self, root: str | os.PathLike | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits: list[str] = []

    def _file(self, stage: str, key: str, part: int | None = None) -> Path:
        assert self.root is not None
        return self.root / (f"{stage}-{key}.npz" if part is None else f"{stage}-{key}.part{part}.npz")

    def get(self, stage: str, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None when absent (or unreadable, which counts as absent)."""
        if self.root is None:
            return None
        f = self._file(stage, key)
        if not f.exists():
            return None
        try:
            with np.load(f, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except (OSError, ValueError):
            return None
        self.hits.append(stage)
        return out

    def put(self, stage: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store arrays atomically and drop the stage's chunk files."""
        if self.root is None:
            return
        with atomic_path(self._file(stage, key)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        for part in self.root.glob(f"{stage}-{key}.part*.npz"):
            part.unlink()

    def folder(self, stage: str, key: str) -> Path:
        """``<root>/<stage>-<key>/``: a stage stored as a folder of ``.npy`` files (memory-mapped when read)."""
        assert self.root is not None
        return self.root / f"{stage}-{key}"

    def get_folder(self, stage: str, key: str) -> Path | None:
        """The stage's folder when complete (it holds ``meta.json``, written last), else None."""
        if self.root is None:
            return None
        f = self.folder(stage, key)
        if not (f / "meta.json").is_file():
            return None
        self.hits.append(stage)
        return f

    def put_folder(self, stage: str, key: str, tmp: Path) -> Path:
        """Move a finished folder (same file system) into place atomically; returns its final path."""
        assert self.root is not None
        final = self.folder(stage, key)
        self.root.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        try:
            os.replace(tmp, final)
        except OSError:  # another file system: copy next to it, then rename
            staging = self.root / f".{final.name}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(tmp, staging)
            os.replace(staging, final)
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def get_npy(self, stage: str, key: str) -> np.ndarray | None:
        """The stage's single array ``<stage>-<key>.npy``, memory-mapped, or None."""
        if self.root is None:
            return None
        f = self.root / f"{stage}-{key}.npy"
        if not f.is_file():
            return None
        try:
            arr = np.load(f, mmap_mode="r")
        except (OSError, ValueError):
            return None
        self.hits.append(stage)
        return arr

    def gather_parts(self, stage: str, key: str, name: str, n: int) -> np.ndarray:
        """Concatenate the rows of array ``name`` of the parts ``0, 1, ...`` (n rows in all) into
        ``<stage>-<key>.npy`` without holding them all in memory, drop the parts, return the file memory-mapped."""
        assert self.root is not None
        first = self.get_part(stage, key, 0)
        assert first is not None
        shape = (n, *first[name].shape[1:])
        with atomic_path(self.root / f"{stage}-{key}.npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=first[name].dtype, shape=shape)
            row, i = 0, 0
            while row < n:
                part = self.get_part(stage, key, i)
                if part is None:
                    raise RuntimeError(f"cache part {i} of {stage}-{key} is missing")
                x = part[name]
                out[row : row + x.shape[0]] = x
                row, i = row + x.shape[0], i + 1
            out.flush()
            del out
        for f in self.root.glob(f"{stage}-{key}.part*.npz"):
            f.unlink()
        return np.load(self.root / f"{stage}-{key}.npy", mmap_mode="r")

    def get_part(self, stage: str, key: str, part: int) -> dict[str, np.ndarray] | None:
        if self.root is None:
            return None
        f = self._file(stage, key, part)
        if not f.exists():
            return None
        try:
            with np.load(f, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            return None

    def put_part(self, stage: str, key: str, part: int, arrays: dict[str, np.ndarray]) -> None:
        if self.root is None:
            return
        with atomic_path(self._file(stage, key, part)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def pack_strings(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all texts (uint8) and their (n+1,) int64 offsets: strings stored without pickling."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def unpack_strings(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    """Inverse of :func:`pack_strings`."""
    raw = blob.tobytes()
    return [raw[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(offsets.size - 1)]
