"""Walk two trees and say how they differ: what "identical on the slave" means in tests."""

import hashlib
import os
import stat
import time

from fmirror.errors import Failed


def _digest(path: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def snapshot(root, mtimes=True, owners=True) -> dict:
    """rel path (bytes) -> (type, content hash or link target, mode, mtime, uid, gid)."""
    root = os.fsencode(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            try:
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    kind, body = "link", os.readlink(full)
                elif stat.S_ISDIR(st.st_mode):
                    kind, body = "dir", None
                else:
                    kind, body = "file", _digest(full)
            except FileNotFoundError:
                continue
            mode = None if kind == "link" else stat.S_IMODE(st.st_mode)
            # Symlink mtimes are not compared: rsync sets them only where lutimes exists.
            mtime = st.st_mtime_ns // 1_000_000_000 if mtimes and kind != "link" else None
            owner = (st.st_uid, st.st_gid) if owners else None
            out[rel] = (kind, body, mode, mtime, owner)
    return out


def differences(a: dict, b: dict, limit: int = 10) -> list:
    diffs = []
    for rel in sorted(set(a) | set(b)):
        if a.get(rel) != b.get(rel):
            diffs.append(f"{rel!r}: {a.get(rel)} != {b.get(rel)}")
            if len(diffs) >= limit:
                break
    return diffs


def wait_equal(a, b, timeout: float, mtimes=True, poll: float = 0.1) -> float:
    """Poll until trees a and b are identical; returns the seconds it took, Failed with the diff."""
    start = time.monotonic()
    while True:
        sa, sb = snapshot(a, mtimes), snapshot(b, mtimes)
        if sa == sb:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise Failed(f"trees {a} and {b} still differ after {timeout:g} s: "
                         + "; ".join(differences(sa, sb)))
        time.sleep(poll)
