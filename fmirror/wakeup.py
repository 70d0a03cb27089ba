"""Wakes the daemon's loop early: from a signal handler or from any thread.

A pipe, not a threading.Event: setting an Event from a signal handler can
deadlock when the signal lands while the main thread holds the Event's own
lock (inside its wait); a write to a non-blocking pipe is safe anywhere.
The pipe is never closed: a thread still finishing after the daemon stopped
(a peer check waits out its peer) must not write into a reused descriptor.
"""

import os
import select
import signal


class Wakeup:
    def __init__(self):
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def set(self) -> None:
        try:
            os.write(self._write, b"!")
        except BlockingIOError:
            pass    # the pipe is full of wake-ups already: one more adds nothing

    def on_signals(self) -> None:
        """Let a signal wake wait(), whichever thread the kernel hands it to (main thread only).

        Python runs a handler in the main thread only, and a signal taken by
        another thread does not interrupt the main one's select: without this,
        a SIGHUP could wait out the loop's sleep (up to an hour when idle).
        """
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)

    def wait(self, timeout: float) -> None:
        """Sleep until set() or the timeout; the wake-ups that came are used up."""
        if select.select([self._read], [], [], max(0.0, timeout))[0]:
            try:
                while os.read(self._read, 4096):
                    pass
            except BlockingIOError:
                pass
