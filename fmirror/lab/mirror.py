"""A mirror set up in a lab: one config on every host, keys bound to `fmirror serve`, daemons.

Used by the lab tests, the demo and the benchmarks, so they all run fmirror
the way the README tells an operator to.
"""

import json
import os

import yaml

from fmirror import control
from fmirror.errors import DaemonNotRunning, Failed
from fmirror.lab import FMIRROR, Lab
from fmirror.lab.wait import wait_until

PATHS = ("/srv/www", "/srv/data")


def config(lab: Lab, nodes=("master", "slave"), paths=PATHS, **sections) -> dict:
    """The config as a dict: the lab hosts named as nodes by hostname, master first."""
    cfg = {
        "nodes": {name: {"address": lab[name].address, "role": "master" if i == 0 else "slave"}
                  for i, name in enumerate(nodes)},
        "paths": list(paths),
        "exclude": ["*.swp", "*~"],
        "replication": {"full_sync_interval": 0},
        "log_level": "debug",
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    return cfg


def install(lab: Lab, cfg: dict):
    """Write the config everywhere, make the paths, bind every key to `fmirror serve`."""
    lab.write_config(yaml.safe_dump(cfg, sort_keys=False))
    for name in cfg["nodes"]:
        for path in cfg["paths"]:
            lab[name].path(path).mkdir(parents=True, exist_ok=True)
        lab.authorize(name, [str(FMIRROR), "serve"])


def status(lab: Lab, host: str) -> dict:
    """What `fmirror status --json` prints on host.

    Asked over the daemon's control socket from here, which a Unix socket
    allows across network namespaces: the CLI is a Python start, and polled
    every 20 ms it kept a core busy, enough to push the master's web page
    past the fast failover setting's 0.06 s probe timeout while it started.
    """
    # Through the directory's descriptor: the socket's full lab path can pass AF_UNIX's 108 bytes.
    folder = os.open(lab[host].path("/var/lib/fmirror"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        return control.call(f"/proc/self/fd/{folder}", "status")
    except DaemonNotRunning:
        pass
    finally:
        os.close(folder)
    result = lab.fmirror(host, "status", "--json", check=True)   # the CLI reads the state file then
    return json.loads(result.stdout)


def start(lab: Lab, cfg: dict, timeout: float = 60, master_first: bool = False):
    """Start every node's daemon (slaves first) and wait for the master's first full sync.

    master_first: the master starts and syncs first (to the slaves' forced
    command alone), then the slaves: no slave watches the master while it
    starts, which on two shared cores can keep it from answering a probe.
    """
    names = list(cfg["nodes"])
    for name in names if master_first else names[1:] + names[:1]:
        lab.start_daemon(name)
        if name == names[0]:
            wait_synced(lab, names[0], timeout)


def wait_synced(lab: Lab, master: str, timeout: float = 60):
    """Until every slave of the master has had a full sync and nothing is unsent."""
    def synced():
        try:
            st = status(lab, master)
        except Exception:
            return False
        if st.get("role") == "suspended":
            # It will not sync again before a restore: say so now, not after the timeout.
            raise Failed(f"lab: {master} suspended itself before it synced: {st.get('reason')}")
        slaves = st.get("slaves", {})
        return slaves and all(s["last_full_sync"] and not s["unsent"] and not s["full_sync_pending"]
                              for s in slaves.values())
    wait_until(synced, timeout, f"{master} synced to every slave")
