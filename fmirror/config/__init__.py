"""Configuration: one YAML file, identical on every node."""

from fmirror.config.load import load_config  # noqa: F401
from fmirror.config.model import Config, Role  # noqa: F401
