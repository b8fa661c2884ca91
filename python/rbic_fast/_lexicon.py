"""The marker lexicon of the trace parser: loading, validation and the normalised form both parsers use."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Union

#: Marker categories, in the order of the native category ids.
CATEGORIES: tuple[str, ...] = ("sequencing", "causal", "conclusion", "contrast", "verify", "backtrack", "explore")
_INITIAL = {None: 0, "sentence": 1, "clause": 2}
_RULE_KEYS = {"pattern", "initial", "followed_by", "not_followed_by", "not_preceded_by", "setvar"}
_BREAKS = "\n\r"
_SPACES = "\t\x0b\x0c \xa0\u3000"

LexiconArg = Union[None, str, "os.PathLike[str]", Mapping[str, Any]]


def ascii_lower(s: str) -> str:
    """Lower-case ASCII letters only (``str.lower`` would change the length of some non-ASCII text)."""
    return s.translate(_LOWER)


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


@dataclass(frozen=True)
class Entry:
    """One marker phrase, normalised: ``pattern`` is ASCII-lower-cased, ``category`` an index into CATEGORIES."""

    pattern: str
    category: int
    initial: int = 0  # 0 anywhere, 1 sentence-initial, 2 clause-initial
    followed_by: str = ""
    not_followed_by: tuple[str, ...] = ()
    not_preceded_by: tuple[str, ...] = ()
    setvar: bool = False


@dataclass(frozen=True)
class Lexicon:
    """A validated lexicon: the entries of every category, each pattern unique after ASCII lower-casing."""

    entries: tuple[Entry, ...]


def _check_text(value: Any, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"lexicon: {where} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise ValueError(f"lexicon: {where} is empty; remove it or give a phrase")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"lexicon: {where} contains a lone surrogate; give valid Unicode text") from None
    if any(c in _BREAKS for c in value):
        raise ValueError(f"lexicon: {where} contains a line break; markers never span lines")
    return value


def _entry(raw: Any, category: int, where: str) -> Entry:
    if isinstance(raw, str):
        raw = {"pattern": raw}
    if not isinstance(raw, Mapping):
        raise TypeError(f"lexicon: {where} must be a string or an object with a 'pattern', got {type(raw).__name__}")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ValueError(f"lexicon: {where} has unknown keys {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    if "pattern" not in raw:
        raise ValueError(f"lexicon: {where} has no 'pattern'")
    pattern = _check_text(raw["pattern"], f"{where}.pattern")
    if pattern[0] in _SPACES or pattern[-1] in _SPACES:
        raise ValueError(f"lexicon: {where}.pattern {pattern!r} starts or ends with whitespace; strip it")
    initial = raw.get("initial")
    if initial not in _INITIAL:
        raise ValueError(f"lexicon: {where}.initial must be 'sentence', 'clause' or absent, got {initial!r}")
    followed_by = _check_text(raw.get("followed_by", ""), f"{where}.followed_by", allow_empty=True)
    lists = {}
    for key in ("not_followed_by", "not_preceded_by"):
        value = raw.get(key, [])
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise TypeError(f"lexicon: {where}.{key} must be a list of strings")
        lists[key] = tuple(ascii_lower(_check_text(v, f"{where}.{key}[{i}]")) for i, v in enumerate(value))
    setvar = raw.get("setvar", False)
    if not isinstance(setvar, bool):
        raise TypeError(f"lexicon: {where}.setvar must be true or false")
    return Entry(ascii_lower(pattern), category, _INITIAL[initial], ascii_lower(followed_by),
                 lists["not_followed_by"], lists["not_preceded_by"], setvar)


def validate_lexicon(data: Any, source: str = "lexicon") -> Lexicon:
    """Check a lexicon object and normalise it.

    :param data: ``{"categories": {name: [phrase | {"pattern": phrase, rule...}, ...]}}`` with names from
        :data:`CATEGORIES` (missing categories are empty); other top-level keys are ignored.
    :param source: where it came from, for error messages.
    :return: the validated :class:`Lexicon`.
    :raises ValueError, TypeError: naming the offending entry and the fix.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("categories"), Mapping):
        # A JSON file of the wrong shape is a bad value, not a bad argument type.
        raise ValueError(  # noqa: TRY004
            f"{source}: expected an object with a 'categories' object mapping category -> list of markers")
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for name, items in data["categories"].items():
        if name not in CATEGORIES:
            raise ValueError(f"{source}: unknown category {name!r}; use one of {list(CATEGORIES)}")
        if isinstance(items, str) or not isinstance(items, (list, tuple)):
            raise TypeError(f"{source}: categories.{name} must be a list")
        for i, raw in enumerate(items):
            where = f"categories.{name}[{i}]"
            entry = _entry(raw, CATEGORIES.index(name), where)
            if entry.pattern in seen:
                raise ValueError(f"{source}: {where} repeats the marker {entry.pattern!r} (already at {seen[entry.pattern]}); "
                                 "each phrase may appear once (matching ignores ASCII case)")
            seen[entry.pattern] = where
            entries.append(entry)
    return Lexicon(tuple(entries))


def load_lexicon(lexicon: LexiconArg = None) -> Lexicon:
    """Resolve the public ``lexicon=`` argument: ``None`` (the shipped default), a path to a JSON file, or a dict.

    :param lexicon: the argument as given.
    :return: the validated :class:`Lexicon`.
    """
    if lexicon is None:
        return _default()
    if isinstance(lexicon, Mapping):
        return validate_lexicon(lexicon)
    if isinstance(lexicon, (str, os.PathLike)):
        path = os.fspath(lexicon)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as exc:
            raise ValueError(f"lexicon: cannot read {path!r}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"lexicon: {path!r} is not valid JSON: {exc}") from None
        return validate_lexicon(data, path)
    if isinstance(lexicon, Lexicon):
        return lexicon
    raise TypeError(f"lexicon must be None, a path or a dict, got {type(lexicon).__name__}")


_DEFAULT: list[Lexicon] = []


def _default() -> Lexicon:
    if not _DEFAULT:
        text = resources.files("rbic_fast").joinpath("data/lexicon.json").read_text(encoding="utf-8")
        _DEFAULT.append(validate_lexicon(json.loads(text), "rbic_fast/data/lexicon.json"))
    return _DEFAULT[0]
