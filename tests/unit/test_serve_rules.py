import pytest

from fmirror.config.model import Role
from fmirror.serve import Refuse, admit, rsync_server_argv, safe_target

PATHS = ("/srv/www", "/srv/data")
PUSH = ["--server", "-logDtprRe.iLsfxCIvu", "--timeout=30", "--delete", "--delete-missing-args",
        "--numeric-ids", ".", "/srv/www/"]


def test_admit_accepts_equal_or_higher_epoch_on_a_slave():
    assert admit(Role.SLAVE, 3, 3) is None
    assert admit(Role.SLAVE, 3, 4) is None


def test_admit_refuses_lower_epoch():
    assert "lower" in admit(Role.SLAVE, 3, 2)


@pytest.mark.parametrize("role", [Role.MASTER, Role.SUSPENDED])
def test_admit_refuses_when_not_a_slave(role):
    assert "not a slave" in admit(role, 1, 5)


def test_push_argv_accepted_into_a_configured_path():
    assert rsync_server_argv(PUSH, PATHS) == ["rsync", *PUSH[:-1], "/srv/www/"]


@pytest.mark.parametrize("dest", ["/etc/", "/srv/www/../../etc", "/srv", "/srv/www/sub", "relative"])
def test_push_outside_paths_refused(dest):
    with pytest.raises(Refuse):
        rsync_server_argv(PUSH[:-1] + [dest], PATHS)


@pytest.mark.parametrize("bad", [["--sender"], ["--remove-source-files"], ["--rsync-path=x"]])
def test_unknown_options_refused(bad):
    with pytest.raises(Refuse):
        rsync_server_argv(PUSH[:2] + bad + PUSH[2:], PATHS)


def test_secluded_args_flag_refused():
    with pytest.raises(Refuse):
        rsync_server_argv(["--server", "-slogDtpre.iLsfxCIvu", ".", "/srv/www/"], PATHS)


def test_safe_target_refuses_escapes(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("/etc")
    root = str(tmp_path)
    assert safe_target(root, "real/x") == str(tmp_path / "real" / "x").encode()
    for rel in ["../x", "a/../../x", "/etc/passwd", "", "link/passwd"]:
        with pytest.raises(Refuse):
            safe_target(root, rel)


def test_a_push_may_not_ask_for_backups_the_receiver_decides():
    for bad in (["--server", "-blogDtpre.iLsfxCIvu", ".", "/srv/www/"],
                PUSH[:2] + ["--backup-dir=/tmp/x"] + PUSH[2:], PUSH[:2] + ["--suffix=~"] + PUSH[2:]):
        with pytest.raises(Refuse):
            rsync_server_argv(bad, PATHS)
