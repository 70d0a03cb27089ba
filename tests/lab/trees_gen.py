"""Trees that exercise every kind of entry and awkward name a mirror must carry."""

import os

BIG = 50 * 1024 * 1024
AWKWARD_NAMES = [b"with space", b"new\nline", b"#hash", b";semi", b"-dash", b"\xff\xfe not utf-8", b"caf\xc3\xa9"]


def tricky_tree(root, big=True):
    """Build it under root (bytes or str); returns the number of entries made."""
    root = os.fsencode(root)

    def p(*parts):
        return os.path.join(root, *parts)

    os.makedirs(p(b"a", b"b", b"c"), exist_ok=True)
    os.makedirs(p(b"empty", b"nested-empty"), exist_ok=True)
    open(p(b"zero"), "wb").close()
    with open(p(b"a", b"b", b"c", b"deep.txt"), "wb") as f:
        f.write(b"deep\n" * 1000)
    if big:
        with open(p(b"big.bin"), "wb") as f:
            f.write(os.urandom(BIG))
    for name in AWKWARD_NAMES:
        with open(p(name), "wb") as f:
            f.write(name + b"\n")
    os.makedirs(p(b"dir with \xff"), exist_ok=True)
    with open(p(b"dir with \xff", b"-x"), "wb") as f:
        f.write(b"x")
    os.symlink(b"a/b/c/deep.txt", p(b"rel-link"))
    os.symlink(b"/etc/hostname", p(b"abs-link"))
    os.symlink(b"does/not/exist", p(b"dangling"))
    os.symlink(b"a", p(b"dir-link"))
    with open(p(b"modes"), "wb") as f:
        f.write(b"m")
    os.chmod(p(b"modes"), 0o640)
    os.chmod(p(b"a", b"b"), 0o750)
    with open(p(b"owned"), "wb") as f:
        f.write(b"o")
    os.chown(p(b"owned"), 1234, 2345)
    os.utime(p(b"zero"), (1_000_000_000, 1_000_000_000))
    os.utime(p(b"a", b"b", b"c"), (1_100_000_000, 1_100_000_000))
    return len(os.listdir(root))
