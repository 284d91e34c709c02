"""Configuration: schema (dataclasses) and loader (TOML + CLI precedence)."""

from scaling.config.loader import ConfigError, load_config, to_dict
from scaling.config.schema import ClusterConfig, CollectivesConfig, RunConfig

__all__ = [
    "ConfigError",
    "load_config",
    "to_dict",
    "RunConfig",
    "ClusterConfig",
    "CollectivesConfig",
]
