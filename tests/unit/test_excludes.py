import os
import shutil
import subprocess

import pytest

from fmirror.excludes import compile_excludes

# (pattern, relpath, is_dir, excluded)
CASES = [
    ("*.swp", b"a.swp", False, True),
    ("*.swp", b"deep/er/a.swp", False, True),
    ("*.swp", b"a.swpx", False, False),
    ("*~", b"notes.txt~", False, True),
    (".cache/", b".cache", True, True),
    (".cache/", b".cache", False, False),
    (".cache/", b"home/.cache/x/y", False, True),
    ("build", b"src/build", True, True),
    ("build", b"src/build", False, True),
    ("/build", b"build", True, True),
    ("/build", b"src/build", True, False),
    ("a/b", b"a/b", False, True),
    ("a/b", b"x/a/b", False, True),
    ("a/b", b"xa/b", False, False),
    ("a/b", b"a/b/c", False, True),
    ("a/*/c", b"a/x/c", False, True),
    ("a/*/c", b"a/x/y/c", False, False),
    ("a/**/c", b"a/x/y/c", False, True),
    ("a/**/c", b"a/c", False, False),
    ("**/tmp", b"tmp", True, True),
    ("**/tmp", b"xtmp", True, False),
    ("**/tmp", b"x/tmp", True, True),
    ("a/**", b"a", True, False),
    ("a/**", b"a/f", False, True),
    ("a/***", b"a", True, True),
    ("a/***", b"a", False, False),
    ("?.txt", b"x.txt", False, True),
    ("?.txt", b"xy.txt", False, False),
    ("[ab]*.log", b"b1.log", False, True),
    ("[!ab]*.log", b"b1.log", False, False),
    ("[^ab]*.log", b"c1.log", False, True),
    ("st\\*r", b"st*r", False, True),
    ("st\\*r", b"star", False, False),
    ("st\\ar", b"star", False, False),
    ("a[b", b"a[b", False, False),
    ("[z-a]", b"q", False, False),
    ("*", b".hidden", False, True),
    ("x*", b"x/y", False, True),
    ("- old", b"old", False, True),
    (b"caf\xe9", b"dir/caf\xe9", False, True),
    ("*.tmp", b"line\nbreak.tmp", False, True),
    ("*.tmp", b"x.tmp\n", False, False),
]


@pytest.mark.parametrize("pattern, relpath, is_dir, expected", CASES)
def test_matcher_follows_rsync_rules(pattern, relpath, is_dir, expected):
    assert compile_excludes([pattern])(relpath, is_dir) is expected


def test_no_patterns_exclude_nothing():
    assert compile_excludes([])(b"anything", True) is False


def test_a_path_is_excluded_by_any_of_several_patterns():
    matcher = compile_excludes(["*.swp", "cache/"])
    assert matcher(b"x.swp", False)
    assert matcher(b"cache/x", False)
    assert not matcher(b"x.txt", False)


@pytest.mark.parametrize("pattern", ["", "+ keep", "/"])
def test_patterns_rsync_would_read_differently_are_refused(pattern):
    with pytest.raises(ValueError):
        compile_excludes([pattern])


TREE_DIRS = [
    b"a", b"a/b", b"a/b/c", b"a/bb", b"x", b"x/a", b"x/a/b", b"x/a/b/c",
    b"build", b"src", b"src/build", b"lib", b".cache", b"home", b"home/.cache",
    b"deep", b"deep/er", b"deep/er/tmp", b"tmp", b"caf\xe9",
]
TREE_FILES = [
    b"a/b/c/f", b"a/b/f.swp", b"a/bb/g~", b"x/a/b/c/h", b"x/a/b/i.log",
    b"build/out", b"lib/build", b"src/main.c", b".cache/blob", b"home/.cache/blob",
    b"deep/er/tmp/t", b"tmp/t", b"b1.log", b"c1.log", b"?.txt", b"z.txt",
    b"caf\xe9/\xff\xfe", b"new\nline.tmp", b"st*r", b"star", b".hidden",
]
RSYNC_PATTERNS = [
    "*.swp", "*~", ".cache/", "build", "/build", "build/", "a/b", "/a/b", "a/*/c",
    "**/tmp", "**tmp", "**/a/b", "a/**", "a/**/c", "x/a/***", "**b", "[ab]*.log", "[!b]1.log", "?.txt",
    "st\\*r", "deep/**", "*/tmp/", "caf\xe9", "*.tmp", "a[b",
]


def _tree(src):
    for rel in TREE_DIRS:
        os.makedirs(os.path.join(src, rel), exist_ok=True)
    for rel in TREE_FILES:
        with open(os.path.join(src, rel), "wb") as f:
            f.write(rel)


def _listing(top):
    found = set()
    for dirpath, dirnames, filenames in os.walk(top):
        rel = os.path.relpath(dirpath, top)
        for name in dirnames + filenames:
            found.add(os.path.normpath(os.path.join(rel, name)))
    return found


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
@pytest.mark.parametrize("pattern", RSYNC_PATTERNS)
def test_matcher_agrees_with_real_rsync(tmp_path, pattern):
    src, dst = os.fsencode(tmp_path / "src"), os.fsencode(tmp_path / "dst")
    _tree(src)
    subprocess.run([b"rsync", b"-a", b"--exclude=" + os.fsencode(pattern), src + b"/", dst + b"/"], check=True)
    matcher = compile_excludes([pattern])
    everything = _listing(src)
    expected = {rel for rel in everything if not matcher(rel, os.path.isdir(os.path.join(src, rel)))}
    assert _listing(dst) == expected
