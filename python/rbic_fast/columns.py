"""Packed UTF-8 string columns: a million short texts as two arrays (bytes + offsets), not a million objects.

:class:`TextColumn` is a read-only ``Sequence[str]`` over a ``uint8`` blob and ``(n+1,)`` int64 offsets, either in
memory or memory-mapped from ``.npy`` files of the stage cache; items decode on access. :class:`TextColumnWriter`
appends batches (a list of str or a pyarrow string array) and spills the bytes to a file as it goes, so that
building a column never holds all of its texts in memory. :meth:`TextColumn.to_arrow` is a zero-copy pyarrow view
for vectorised work (sorting ids, dictionary-encoding hints, the score table).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


class TextColumn(Sequence):
    """``n`` strings stored as UTF-8 bytes ``blob`` and offsets (``blob[offsets[i]:offsets[i+1]]`` is item i).

    :param blob: (m,) uint8, possibly a memory map. :param offsets: (n+1,) int64, non-decreasing, from 0.
    """

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != blob.size:
            raise ValueError("offsets must be (n+1,) from 0 to len(blob)")
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def from_strings(cls, texts: Sequence[str]) -> TextColumn:
        w = TextColumnWriter()
        w.append(list(texts))
        return w.finish()

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} texts")
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return bytes(self.blob[a:b]).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        step = 65536
        for start in range(0, len(self), step):
            yield from self.to_arrow(start, min(len(self), start + step)).to_pylist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextColumn):
            return np.array_equal(self.offsets, other.offsets) and np.array_equal(self.blob, other.blob)
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def byte_lengths(self) -> np.ndarray:
        """(n,) UTF-8 byte length of every item (0 for empty strings)."""
        return np.diff(self.offsets)

    def to_arrow(self, start: int = 0, stop: int | None = None) -> Any:
        """Items ``start:stop`` as a pyarrow ``large_string`` array sharing this column's memory."""
        import pyarrow as pa

        stop = len(self) if stop is None else stop
        off = self.offsets[start : stop + 1]
        base = int(off[0])
        data = pa.py_buffer(np.asarray(self.blob[base : int(off[-1])]))
        offs = pa.py_buffer(np.ascontiguousarray(off - base, dtype=np.int64))
        return pa.Array.from_buffers(pa.large_string(), stop - start, [None, offs, data])

    def take(self, rows: np.ndarray) -> list[str]:
        """The items at ``rows`` as a list of str."""
        return self.to_arrow().take(np.asarray(rows, dtype=np.int64)).to_pylist()

    def save(self, folder: Path, name: str) -> None:
        """Write ``<name>.blob.npy`` and ``<name>.offsets.npy`` into ``folder`` (readable memory-mapped)."""
        np.save(folder / f"{name}.blob.npy", np.asarray(self.blob))
        np.save(folder / f"{name}.offsets.npy", np.asarray(self.offsets))

    @classmethod
    def load(cls, folder: Path, name: str) -> TextColumn:
        """A column written by :meth:`save` or a spilling :class:`TextColumnWriter`, memory-mapped."""
        return cls(
            np.load(folder / f"{name}.blob.npy", mmap_mode="r"),
            np.load(folder / f"{name}.offsets.npy", mmap_mode="r"),
        )


class TextColumnWriter:
    """Builds a :class:`TextColumn` batch by batch.

    :param folder: spill folder: the bytes go to ``<name>.blob.npy`` there as they come and the finished column
        is memory-mapped; None keeps them in memory (small inputs).
    :param name: file stem inside ``folder``.
    """

    _HEADER = 128  # room for the .npy header, written once the length is known

    def __init__(self, folder: str | os.PathLike | None = None, name: str = "text") -> None:
        self.folder = Path(folder) if folder is not None else None
        self.name = name
        self._offsets: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self._size = 0
        self._parts: list[bytes] = []
        self._fh = None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.folder / f"{name}.blob.npy", "wb")  # noqa: SIM115 (closed by finish/abort)
            self._fh.write(b"\x00" * self._HEADER)

    def append(self, texts: Any) -> None:
        """Append a list of str or a pyarrow (large_)string array (nulls count as empty strings)."""
        import pyarrow as pa

        if isinstance(texts, pa.Array):
            arr = texts
        else:
            try:
                arr = pa.array(texts, type=pa.large_string())
            except (UnicodeEncodeError, pa.ArrowException):  # lone surrogates: stored as U+FFFD
                from .steps import prepare_text

                arr = pa.array([prepare_text(t) for t in texts], type=pa.large_string())
        if arr.type != pa.large_string():
            arr = arr.cast(pa.large_string())
        if arr.null_count:
            arr = arr.fill_null("")
        n = len(arr)
        if n == 0:
            return
        _, offs_buf, data_buf = arr.buffers()
        offs = np.frombuffer(offs_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
        lo, hi = int(offs[0]), int(offs[-1])
        data = memoryview(data_buf)[lo:hi] if data_buf is not None else b""
        self._offsets.append(offs[1:] - lo + self._size)
        self._size += hi - lo
        if self._fh is not None:
            self._fh.write(data)
        else:
            self._parts.append(bytes(data))

    def abort(self) -> None:
        """Close the spill file (its folder is the caller's to remove)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def finish(self) -> TextColumn:
        """The finished column (memory-mapped from the spill file when spilling)."""
        offsets = np.concatenate(self._offsets)
        if self._fh is None:
            return TextColumn(np.frombuffer(b"".join(self._parts), dtype=np.uint8), offsets)
        header = {"descr": "|u1", "fortran_order": False, "shape": (self._size,)}
        self._fh.seek(0)
        buf = _npy_header(header, self._HEADER)
        self._fh.write(buf)
        self._fh.close()
        self._fh = None
        assert self.folder is not None
        np.save(self.folder / f"{self.name}.offsets.npy", offsets)
        return TextColumn.load(self.folder, self.name)


def _npy_header(header: dict, size: int) -> bytes:
    """A version-1.0 ``.npy`` header padded to exactly ``size`` bytes."""
    text = repr(header).encode("latin1")
    body = 10 + len(text) + 1
    if body > size:
        raise ValueError("npy header does not fit")
    text = text + b" " * (size - body) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


__all__ = ["TextColumn", "TextColumnWriter"]
