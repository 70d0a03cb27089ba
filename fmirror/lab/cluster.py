"""A failover cluster in a lab: a web page on each node, the floating IP, hooks that leave a trace.

Each node serves its own name on port 80 (from its private /run/www), so a
client polling the floating IP sees who answers.
"""

import json
import sys
from pathlib import Path

from fmirror import process
from fmirror.lab import Lab, client, hookrec, mirror
from fmirror.lab.wait import wait_until

FLOATING = "198.51.100.100"
PY = sys.executable


def hook(name):
    return [PY, "-m", "fmirror.lab.hookrec", name]


def config(lab: Lab, witness=True, **sections) -> dict:
    monitor = {"interval": 0.5, "timeout": 0.5, "fall": 3, "rise": 2,
               "checks": [{"icmp": {}}, {"http": {"port": 80, "path": "/", "expect_status": 200}}]}
    if witness:
        monitor["witness"] = lab["witness"].address
    monitor.update(sections.pop("monitor", {}))
    return mirror.config(
        lab,
        monitor=monitor,
        floating_ip={"address": f"{FLOATING}/24", "interface": "eth0", "garp_count": 3},
        hooks={"promote": hook("promote"), "demote": hook("demote"), "notify": hook("notify")},
        **sections)


class Cluster:
    def __init__(self, lab: Lab, cfg: dict):
        self.lab, self.cfg = lab, cfg
        self.web = {}
        self.client_log = None

    def start(self, master_first: bool = False):
        mirror.install(self.lab, self.cfg)
        for name in self.cfg["nodes"]:
            self.start_web(name)
        mirror.start(self.lab, self.cfg, master_first=master_first)
        self.wait_holder("master")
        return self

    def start_web(self, host):
        www = self.lab[host].path("/run/www")
        www.mkdir(exist_ok=True)
        (www / "index.html").write_text(f"{host}\n")
        self.web[host] = self.lab[host].spawn(
            [PY, "-m", "http.server", "80", "--bind", "0.0.0.0", "--directory", "/run/www"],
            self.lab.log_path(host, "web"))
        wait_until(lambda: self._serving(host), 10, f"web server on {host}")

    def _serving(self, host):
        probe = "import socket; socket.create_connection(('127.0.0.1', 80), 1)"
        return self.lab[host].run([PY, "-c", probe], check=False).returncode == 0

    def stop_web(self, host):
        process.stop(self.web.pop(host))

    def holds_ip(self, host) -> bool:
        out = self.lab[host].run(["ip", "-o", "addr", "show", "dev", "eth0"], check=False).text
        return f" {FLOATING}/" in out

    def holders(self) -> list:
        return [h for h in self.cfg["nodes"] if self.holds_ip(h)]

    def wait_holder(self, host, timeout=30):
        return wait_until(lambda: self.holders() == [host], timeout, f"{host} alone holds {FLOATING}")

    def status(self, host) -> dict:
        return mirror.status(self.lab, host)

    def hooks(self, host) -> list:
        path = self.lab[host].path(hookrec.LOG)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def start_client(self, interval=0.05) -> Path:
        self.client_log = self.lab.log_path("client", "poll")
        self.lab["client"].spawn([PY, "-m", "fmirror.lab.client", FLOATING, str(interval), str(self.client_log)],
                                 self.lab.log_path("client", "poller"))
        return self.client_log

    def answers(self):
        return client.read(self.client_log)
