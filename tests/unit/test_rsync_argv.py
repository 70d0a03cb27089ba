import pytest

from fmirror import protocol, rsync
from fmirror.config.model import Config, Node, Role, Transport
from fmirror.reach import Reach

PATH, NEW_DIR, TREE = Reach.PATH, Reach.NEW_DIR, Reach.TREE


def _cfg(**kw):
    nodes = {"alpha": Node("alpha", "198.51.100.1", Role.MASTER, None),
             "beta": Node("beta", "198.51.100.2", Role.SLAVE, None)}
    return Config(path="t.yaml", node="alpha", nodes=nodes, paths=("/srv/www",), **kw)


def test_batch_argv_reads_nul_list_and_deletes_missing():
    argv = rsync.batch_argv(_cfg(exclude=("*.swp",)), "ssh -p 22", "X", "/srv/www", "root@h:/srv/www/")
    assert argv[0] == "rsync"
    for opt in ("-a", "-r", "--from0", "--files-from=-", "--delete-missing-args", "--delete",
                "--numeric-ids", "--exclude=*.swp"):
        assert opt in argv
    assert argv[-2:] == ["/srv/www/", "root@h:/srv/www/"]


def test_a_new_directory_with_a_path_under_it_listed_is_left_to_rsync_as_implied():
    rels = {b"d": NEW_DIR, b"d/sub": NEW_DIR, b"d/sub/f": PATH, b"e": TREE}
    assert rsync.batch_list(rels, lambda rel: True) == ([b"d/sub/f", b"e"], [])


def test_a_new_directory_alone_is_listed_and_sent_without_what_it_holds():
    rels = {b"d": NEW_DIR, b"other/f": PATH}
    assert rsync.batch_list(rels, lambda rel: True) == ([b"d", b"other/f"], [b"d"])
    argv = rsync.batch_argv(_cfg(), "ssh", "X", "/srv/www", "h:/srv/www/", alone=[b"d", b"a*b", b"c\\d"])
    assert ["--exclude=/d/*", "--exclude=/a\\*b/*", "--exclude=/c\\\\d/*"] == [a for a in argv if a.endswith("/*")]


def test_a_new_directory_gone_here_is_listed_plain_so_that_it_is_deleted_whole_there():
    assert rsync.batch_list({b"d": NEW_DIR}, lambda rel: False) == ([b"d"], [])


def test_too_many_new_directories_alone_are_sent_recursively_as_before():
    rels = {b"d%d" % i: NEW_DIR for i in range(rsync.MAX_LEFT_OUT + 1)}
    assert rsync.batch_list(rels, lambda rel: True) == (list(rels), [])


def test_a_batch_without_new_directories_is_listed_as_it_is_and_nothing_is_looked_at():
    def looked(rel):
        raise AssertionError("no lstat for a batch without new directories")
    assert rsync.batch_list({b"a": PATH, b"b": TREE}, looked) == ([b"a", b"b"], [])


def test_full_argv_deletes_and_honours_transport():
    cfg = _cfg(transport=Transport(bwlimit_kbps=500, compress=True))
    argv = rsync.full_argv(cfg, "ssh", "X", "/srv/www/", "d")
    assert "--delete" in argv and "--bwlimit=500" in argv and "--compress" in argv
    assert "--files-from=-" not in argv
    assert argv[-2] == "/srv/www/"


def test_files_from_protects_comment_and_option_like_names():
    data = rsync.files_from([b"#hash", b";semi", b"-dash", b"new\nline", b"\xff", b""])
    assert data.split(b"\0")[:-1] == [b"./#hash", b"./;semi", b"./-dash", b"./new\nline", b"./\xff", b"."]


@pytest.mark.parametrize("code,outcome", [(0, "ok"), (24, "ok"), (23, "retry"), (12, "retry"), (255, "retry")])
def test_exit_codes(code, outcome):
    assert rsync.interpret(code, False).value == outcome


def test_refusal_wins_over_exit_code():
    assert rsync.interpret(12, True) is rsync.Outcome.REFUSED


def test_remote_dest_brackets_ipv6():
    assert rsync.remote_dest("root", "2001:db8::1", "/srv/www") == "root@[2001:db8::1]:/srv/www/"
    assert rsync.remote_dest("root", "198.51.100.2", "/srv/www/") == "root@198.51.100.2:/srv/www/"


def test_bytes_sent_parsed_from_stats():
    assert rsync.bytes_sent(b"Number of files: 3\nTotal bytes sent: 1,234\n") == 1234


def test_refusal_line_round_trips():
    line = protocol.refusal_line("this node is master, not a slave", "master", 4)
    r = protocol.find_refusal("rsync: noise\n" + line + "\nrsync error: ...")
    assert (r.reason, r.role, r.epoch) == ("this node is master, not a slave", "master", 4)


def test_extra_options_go_before_source_and_destination():
    argv = ["rsync", "-a", "src/", "dst/"]
    assert rsync.with_options(argv, ["--max-delete=0"]) == ["rsync", "-a", "--max-delete=0", "src/", "dst/"]
    assert rsync.with_options(argv, []) is argv


def test_skipped_deletions_read_from_rsync_stderr():
    err = b"Deletions stopped due to --max-delete limit (5000 skipped)\nrsync error: the --max-delete limit..."
    assert rsync.skipped_deletions(err) == 5000
    assert rsync.skipped_deletions(b"") == 0


def test_exit_25_is_a_success_only_when_rsync_said_what_it_skipped():
    assert rsync.interpret(25, False) is rsync.Outcome.RETRY
    assert rsync.interpret(25, False, skipped=3) is rsync.Outcome.OK
    assert rsync.interpret(24, False, skipped=3) is rsync.Outcome.OK      # vanished files hide the 25
    assert rsync.interpret(23, False) is rsync.Outcome.RETRY


def test_exit_23_after_skipped_deletions_is_blocked_not_a_plain_failure():
    assert rsync.interpret(23, False, skipped=1) is rsync.Outcome.BLOCKED


def test_snapshot_argv_links_unchanged_files_to_the_previous_snapshot():
    argv = rsync.snapshot_argv("/srv/www", "/s/new/srv/www", "/s/old/srv/www")
    assert argv == ["rsync", "-a", "--numeric-ids", "--link-dest=/s/old/srv/www", "/srv/www/", "/s/new/srv/www/"]
    assert "--link-dest" not in " ".join(rsync.snapshot_argv("/srv/www", "/s/new/srv/www", None))
