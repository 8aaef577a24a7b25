"""The configuration file: one TOML document, validated once at start-up.

* :mod:`smavenus.config.app` — the whole document, cross-field rules, parsing;
* :mod:`smavenus.config.sections` — ``[can]``, ``[battery]``, ``[gateway]``, ``[vebus]``,
  ``[logging]``, ``[paths]``;
* :mod:`smavenus.config.controller` — ``[controller]`` (the charge controller);
* :mod:`smavenus.config.legacy` — keys renamed since an earlier version;
* :mod:`smavenus.config.toml` — reading and writing TOML.
"""

from smavenus.config.app import (
    UNKNOWN_KEY,
    AppConfig,
    cross_field_problems,
    format_validation_error,
    load_config,
    parse_config,
)
from smavenus.config.controller import ControllerConfig, controller_cross_field_problems
from smavenus.config.sections import (
    SMA_BMS_TIMEOUT_S,
    SMA_INHIBIT_TIME_S,
    BatteryConfig,
    CanConfig,
    GatewayConfig,
    LoggingConfig,
    PathsConfig,
    VebusConfig,
)
from smavenus.config.toml import dump_config, read_toml, toml_document

__all__ = [
    "SMA_BMS_TIMEOUT_S",
    "SMA_INHIBIT_TIME_S",
    "UNKNOWN_KEY",
    "AppConfig",
    "BatteryConfig",
    "CanConfig",
    "ControllerConfig",
    "GatewayConfig",
    "LoggingConfig",
    "PathsConfig",
    "VebusConfig",
    "controller_cross_field_problems",
    "cross_field_problems",
    "dump_config",
    "format_validation_error",
    "load_config",
    "parse_config",
    "read_toml",
    "toml_document",
]
