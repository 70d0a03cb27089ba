"""Where fmirror finds its configuration (and tells whether it changed) and its daemon's hand-over socket.

Imports nothing but `os` and C modules: the ssh forced command reads this
before every push (handoff.py), where each import costs time.
"""

import binascii
import os

DEFAULT_PATH = "/etc/fmirror/fmirror.yaml"
ENV_VAR = "FMIRROR_CONFIG"
# Not state_dir: finding that needs the configuration parsed, which is the
# cost the hand-over saves. Root only (0700), like the control socket.
RUN_DIR = "/run/fmirror"


def resolve_path(cli_path: str | None) -> str:
    """The config file to use: `-c PATH`, else $FMIRROR_CONFIG, else the default."""
    return cli_path or os.environ.get(ENV_VAR) or DEFAULT_PATH


def handoff_socket(config_path: str) -> str:
    """The daemon's hand-over socket for one configuration file (absolute path).

    Named by a checksum of the path: several daemons with their own files
    may run on one host, and a socket path must stay short. Two paths with
    the same checksum only cost the slow path: the daemon checks the file.
    """
    return os.path.join(RUN_DIR, f"serve-{binascii.crc32(os.fsencode(config_path)):08x}.sock")


def config_stamp(config_path: str | None) -> tuple | None:
    """The identity and version of a config file (None if it cannot be read).

    Taken before the file is read: an edit during the read shows as a change.
    """
    try:
        st = os.stat(os.path.abspath(resolve_path(config_path)))
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
