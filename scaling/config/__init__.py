"""Configuration: schema (dataclasses), field declarations and loader (TOML + CLI precedence).

The package holds two floors (tests/test_floors.py): the vocabulary (fields.py, units.py and
the sections declared below the workloads: tune.py, validate.py, the bars) and the
composition root (schema.py, loader.py), which knows every workload's section. Importing the
vocabulary runs this file, so it imports nothing at its top: the root's names are loaded on
first use, and a workload that declares its section with `config.fields.setting` never
imports the schema that imports the workloads.

    from scaling.config import load_config, RunConfig
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "load_config", "to_dict", "RunConfig", "ClusterConfig"]


def __getattr__(name: str) -> Any:
    # PEP 562: called only for a name this module does not hold, so the root loads on first
    # use of one of its names (plain imports, so tests/test_floors.py sees them).
    if name in ("ConfigError", "load_config"):
        from scaling.config import loader

        return getattr(loader, name)
    if name in ("RunConfig", "ClusterConfig", "to_dict"):
        from scaling.config import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
