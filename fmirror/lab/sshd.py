"""A real sshd per lab host: its own host key, key-only root login, peers bound to a forced command."""

import shlex
import signal
from pathlib import Path

import psutil

from fmirror import process
from fmirror.errors import Failed
from fmirror.lab.host import Host
from fmirror.lab.wait import wait_until

SSHD = "/usr/sbin/sshd"
CLIENT_KEY = "/etc/fmirror/id_ed25519"
AUTHORIZED_KEYS = "/etc/fmirror/authorized_keys"
KNOWN_HOSTS = "/var/lib/fmirror/known_hosts"
PID_FILE = "/run/sshd.pid"
PRIVSEP_DIR = "/run/sshd"
START_TIMEOUT = 10.0


def sshd_config(host_key: Path) -> str:
    # UsePAM no: PAM in a namespace without a login session fails; StrictModes no: keys under /tmp.
    return (f"HostKey {host_key}\n"
            "ListenAddress 0.0.0.0\n"
            "Port 22\n"
            f"PidFile {PID_FILE}\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            f"AuthorizedKeysFile {AUTHORIZED_KEYS}\n"
            "UseDNS no\n"
            "PrintMotd no\n")


def authorized_line(forced_argv, pubkey: str) -> str:
    """An authorized_keys line that lets the key run forced_argv and nothing else."""
    # sshd hands the command to the user's shell: quote each word; in the option, only '"' is escaped.
    command = shlex.join(str(a) for a in forced_argv).replace('"', '\\"')
    return f'command="{command}",restrict {pubkey.strip()}'


def ssh_argv(address: str, *command) -> list[str]:
    """The ssh command line fmirror uses to reach a peer (run inside a lab host)."""
    return ["ssh", "-i", CLIENT_KEY, "-p", "22", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
            f"root@{address}", *command]


def keygen(path: Path, comment: str):
    process.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])


class Sshd:
    def __init__(self, host: Host, log_path: Path):
        self.host = host
        self.log_path = log_path
        self.config = host.root / "sshd" / "sshd_config"
        self.proc = None
        self._peers: dict[str, str] = {}  # peer host name -> its authorized_keys line

    def prepare(self):
        """Host key, config, the host's client key, an empty authorized_keys, the privsep dir."""
        host_key = self.config.parent / "ssh_host_ed25519_key"
        self.config.parent.mkdir(parents=True, exist_ok=True)
        keygen(host_key, f"root@{self.host.name}")
        self.config.write_text(sshd_config(host_key))
        keygen(self.host.path(CLIENT_KEY), f"root@{self.host.name}")
        self._write_authorized_keys()
        self.host.path(PRIVSEP_DIR).mkdir(mode=0o755, exist_ok=True)

    @property
    def pubkey(self) -> str:
        return self.host.path(CLIENT_KEY + ".pub").read_text()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Start sshd (no-op if it runs); wait_listening() before connecting."""
        if self.running:
            return
        # A stale pid file would make wait_listening() believe too early.
        self.host.path(PID_FILE).unlink(missing_ok=True)
        self.proc = self.host.spawn([SSHD, "-D", "-e", "-f", self.config], self.log_path)

    def wait_listening(self):
        wait_until(self._listening, START_TIMEOUT, f"sshd on {self.host.name}")

    def stop(self):
        """Kill sshd and every session it serves.

        Sessions must go too: a peer's ssh ControlMaster connection would otherwise carry on
        through the old session as if sshd were still up.
        """
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)  # it can fork no new session while we look
            for session in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    session.kill()
                except psutil.NoSuchProcess:
                    pass
            self.proc.kill()
        self.proc.wait()
        self.proc = None

    def authorize(self, peer: str, line: str):
        self._peers[peer] = line
        self._write_authorized_keys()

    def _write_authorized_keys(self):
        path = self.host.path(AUTHORIZED_KEYS)
        path.write_text("".join(line + "\n" for line in self._peers.values()))
        path.chmod(0o600)

    def _listening(self) -> bool:
        # sshd -D writes its pid file only after it bound its listening socket.
        if self.proc.poll() is not None:
            raise Failed(f"lab: sshd on {self.host.name} exited with status {self.proc.returncode}, "
                         f"see {self.log_path}")
        try:
            return self.host.path(PID_FILE).read_text().strip() == str(self.proc.pid)
        except FileNotFoundError:
            return False
