"""fmirror's ssh options as the real ssh reads them (`ssh -G` prints its configuration and connects nowhere)."""

import subprocess
from types import SimpleNamespace

from fmirror import ssh


def _ssh_config(tmp_path) -> dict:
    transport = SimpleNamespace(ssh_key=str(tmp_path / "key"), ssh_port=22, ssh_user="root")
    argv = ssh.ssh_argv(SimpleNamespace(transport=transport, state_dir=str(tmp_path)))
    out = subprocess.run([*argv, "-G", "198.51.100.2"], capture_output=True, check=True, text=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def test_ciphers_put_aes_gcm_first_on_a_cpu_with_aes_and_keep_the_rest(tmp_path):
    ciphers = _ssh_config(tmp_path)["ciphers"].split(",")
    if "aes" in ssh.cpu_flags():
        assert ciphers[:2] == ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
    else:
        assert ciphers[0] == "chacha20-poly1305@openssh.com"
    assert "chacha20-poly1305@openssh.com" in ciphers      # a peer that has no AES-GCM still connects
