"""A lab host: a network namespace plus its own mount and UTS namespaces.

An anchor process (`sleep infinity`, started inside the network namespace
after unsharing mount and UTS) holds the namespaces open; everything else
enters them with `nsenter --target ANCHOR`. Inside, /srv, /etc/fmirror,
/var/lib/fmirror and /run are bind mounts of the host's own folders, so one
config file with production paths works on every host.
"""

import dataclasses
import os
import subprocess
from pathlib import Path, PurePosixPath

from fmirror import process
from fmirror.errors import CommandError, CommandTimeout, Failed
from fmirror.lab.wait import wait_until

PRIVATE_DIRS = {  # path inside the host -> its folder under the host's root on the real filesystem
    "/srv": "srv",
    "/etc/fmirror": "etc-fmirror",
    "/var/lib/fmirror": "state",
    "/run": "run",
}
ANCHOR_TIMEOUT = 5.0
# sshd runs every remote command through root's shell, and bash reads ~/.bashrc when
# its input comes over ssh. A developer's machine may do a lot there (pyenv's set-up
# costs 0.1 s per ssh session on ours); lab hosts get an empty one, as on a fresh host.
ROOT_BASHRC = Path("/root/.bashrc")


class Host:
    def __init__(self, name: str, netns: str, address: str, root: Path, log_dir: Path):
        self.name = name
        self.netns = netns
        self.address = address
        self.root = root
        self.anchor_log = log_dir / f"{name}-anchor.log"
        self.anchor: subprocess.Popen | None = None
        self.processes: list[subprocess.Popen] = []  # everything started in this host, anchor first

    def __repr__(self):
        return f"<Host {self.name} {self.address}>"

    def start(self):
        """Create the namespaces (the network one must exist), private folders and hostname."""
        for inside, folder in PRIVATE_DIRS.items():
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            # sshd refuses a privilege separation dir under a group- or world-writable /run.
            (self.root / folder).chmod(0o755)
            # A bind mount needs a mount point. /etc/fmirror and /var/lib/fmirror may not exist on
            # this machine yet: they are created empty, as installing fmirror would.
            Path(inside).mkdir(parents=True, exist_ok=True)
        with open(self.anchor_log, "ab") as log:
            self.anchor = process.spawn(
                ["ip", "netns", "exec", self.netns,
                 "unshare", "--mount", "--uts", "--propagation", "private", "sleep", "infinity"],
                stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(self.anchor)
        wait_until(self._unshared, ANCHOR_TIMEOUT, f"host {self.name}: namespaces")
        for inside, folder in PRIVATE_DIRS.items():
            self.run(["mount", "--bind", self.root / folder, inside])
        if ROOT_BASHRC.exists():
            (self.root / "bashrc").touch()
            self.run(["mount", "--bind", self.root / "bashrc", ROOT_BASHRC])
        self.run(["hostname", self.name])

    def path(self, inside: str) -> Path:
        """Where a path inside the host lives on the real filesystem (private folders only)."""
        path = PurePosixPath(inside)
        if not path.is_absolute() or ".." in path.parts:
            raise ValueError(f"lab host path must be absolute, without '..': {inside}")
        for mount, folder in PRIVATE_DIRS.items():
            if path == PurePosixPath(mount) or PurePosixPath(mount) in path.parents:
                return self.root / folder / path.relative_to(mount)
        raise ValueError(f"{inside} is not private to lab host {self.name} "
                         f"(private: {', '.join(PRIVATE_DIRS)})")

    def run(self, argv, *, cwd=None, **kwargs) -> process.Result:
        """process.run inside the host (keywords as process.run); commands start in / unless cwd."""
        enter = self._enter(cwd)
        try:
            result = process.run(enter + list(argv), **kwargs)
        except CommandError as error:  # name the command, not nsenter
            raise CommandError(error.argv[len(enter):], error.returncode, error.stderr_tail) from None
        except CommandTimeout as error:
            raise CommandTimeout(os.fsdecode(argv[0]), error.args[1]) from None
        return dataclasses.replace(result, argv=result.argv[len(enter):])

    def spawn(self, argv, log_path: Path) -> subprocess.Popen:
        """Start a long-running process inside the host, stdout and stderr appended to log_path."""
        with open(log_path, "ab") as log:
            proc = process.spawn(self._enter() + list(argv), stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        return proc

    def _enter(self, cwd=None) -> list:
        # nsenter execs the command after setns: the PID we get is the command's own.
        wd = [f"--wd={os.fspath(cwd)}"] if cwd is not None else []
        return ["nsenter", f"--target={self.anchor.pid}", "--mount", "--uts", "--net", *wd, "--"]

    def _unshared(self) -> bool:
        if self.anchor.poll() is not None:
            raise Failed(f"lab: host {self.name}: anchor exited with status {self.anchor.returncode}, "
                         f"see {self.anchor_log}")
        # ip execs unshare, which unshares and execs sleep: sleep running means all is in place.
        try:
            return Path(f"/proc/{self.anchor.pid}/comm").read_text() == "sleep\n"
        except FileNotFoundError:
            return False
