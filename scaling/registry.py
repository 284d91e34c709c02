"""A registry: named records of one kind (collectives, workloads), in registration order.

Every list of choices the tool shows or accepts (config validation, --help, report labels)
comes from a registry, never from a hand-typed tuple. `builtins` names modules whose `attr`
(e.g. WORKLOAD) is a built-in record: they are imported and registered on first use, in that
order whatever was imported first, so a registry can be imported anywhere (the config, the
collector) without import cycles. Records of your own come after them, with `register`.

    OPS = Registry("collective")
    OPS.register(record)                 # record.name is its name
    OPS.get("all_reduce"); OPS.names()
    with OPS.added(record): ...          # tests: register, then remove again
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(ValueError):
    """A name no record is registered under; the message lists the known ones."""


class Registry(Generic[T]):
    def __init__(self, kind: str, builtins: tuple[str, ...] = (), attr: str = ""):
        self.kind = kind
        self._builtins, self._attr = builtins, attr
        self._loaded = not builtins
        self._records: dict[str, T] = {}

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first: register() below would load again
            for module in self._builtins:
                self.register(getattr(importlib.import_module(module), self._attr))

    def register(self, record: T) -> T:
        """Add a record under its `.name`; a name can be taken once."""
        self._load()
        name = record.name
        if name in self._records:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._records[name] = record
        return record

    def unregister(self, name: str) -> None:
        self._records.pop(name, None)

    @contextlib.contextmanager
    def added(self, record: T) -> Iterator[T]:
        """Register for the duration of a with-block (tests, experiments)."""
        self.register(record)
        try:
            yield record
        finally:
            self.unregister(record.name)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._records[name]
        except KeyError:
            raise UnknownName(
                f"unknown {self.kind} {name!r} (known: {', '.join(self._records)})"
            ) from None

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._records)

    def values(self) -> list[T]:
        self._load()
        return list(self._records.values())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._records
