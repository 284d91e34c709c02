"""Configuration: schema (dataclasses), field declarations and loader (TOML + CLI precedence)."""

from scaling.config.loader import ConfigError, load_config
from scaling.config.schema import ClusterConfig, RunConfig, to_dict

__all__ = ["ConfigError", "load_config", "to_dict", "RunConfig", "ClusterConfig"]
