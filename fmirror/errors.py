"""Errors as classes: the docstring is the message, the class carries the exit status.

One top-level handler (cli.main) turns them into one line on stderr.
"""


class ExitCode:
    OK = 0
    FAILED = 1
    USAGE = 2
    REFUSED = 3


class Error(Exception):
    """Error: {}"""

    exit_code = ExitCode.FAILED

    def __init__(self, *args):
        super().__init__(*args)
        self.args = args

    def __str__(self):
        return self.__doc__.format(*self.args)


class UsageError(Error):
    """{}"""

    exit_code = ExitCode.USAGE


class ConfigError(Error):
    """{}"""

    exit_code = ExitCode.USAGE

    def __init__(self, problems):
        super().__init__(problems)
        self.problems = list(problems)

    def __str__(self):
        return "\n".join(self.problems)


class StateError(Error):
    """state file {}: {} ({})"""

    # A torn or foreign state file must stop the daemon for good, not loop under
    # systemd's Restart=: the unit lists 2 in RestartPreventExitStatus.
    exit_code = ExitCode.USAGE


class CommandError(Error):
    """{} exited with status {}: {}"""

    def __init__(self, argv, returncode, stderr_tail):
        super().__init__(argv[0], returncode, stderr_tail or "no error output")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class CommandTimeout(Error):
    """{} did not finish within {} s"""


class Refused(Error):
    """{}"""

    exit_code = ExitCode.REFUSED


class DaemonNotRunning(Error):
    """the fmirror daemon is not running here (no answer on {})"""


class Failed(Error):
    """{}"""
