"""Pickling a frozen dataclass by its fields, at a quarter of the standard library's cost.

Every command a server takes crosses to the writer process pickled, and its outcome comes
back the same way (``storage/writerproc.py``). A slotted dataclass pickles through
``dataclasses``' own ``__getstate__``/``__setstate__``, Python functions that look its
fields up again for each object: 5.8 µs to dump a conversion report (with its principal and
nonce) and 5.7 µs to load it. ``by_fields`` gives the class a ``__reduce__`` that reads the
fields with one ``operator.attrgetter`` (C) and rebuilds the object with its constructor:
1.5 and 2.5 µs (docs/benchmarks.md)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def by_fields(cls: type[T]) -> type[T]:
    """Class decorator (outside ``@dataclass``): pickle ``cls`` as its constructor and its
    fields in order. Refuses a class whose fields are not all positional ``__init__``
    arguments (the constructor could not take them back)."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    declared = fields(cls)
    if any(not f.init or f.kw_only for f in declared):
        raise TypeError(f"{cls.__name__} has a field its constructor does not take in order")
    names = [f.name for f in declared]
    # (attrgetter of one name gives the value, not a tuple; of none, it cannot be made)
    values: Callable[[Any], tuple[Any, ...]] = (
        operator.attrgetter(*names)
        if len(names) > 1
        else (lambda self: tuple(getattr(self, n) for n in names))
    )

    def reduce(self: Any) -> tuple[type[T], tuple[Any, ...]]:
        return cls, values(self)

    cls.__reduce__ = reduce  # type: ignore[method-assign]
    return cls
