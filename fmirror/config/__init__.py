"""Configuration: one YAML file, identical on every node."""

from fmirror.config.load import DEFAULT_PATH, load_config  # noqa: F401
from fmirror.config.model import Config, Role  # noqa: F401
