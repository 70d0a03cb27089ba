"""A socketserver served by a thread that sleeps while no client comes.

socketserver's serve_forever wakes every half second to look for its
shutdown flag; a daemon with three servers (control, hand-over, API) woke
six times a second doing nothing. Here the thread blocks on the listening
socket alone, and close() wakes it by shutting that socket down.
"""

import logging
import socket
import threading

log = logging.getLogger(__name__)


class Serving:
    def __init__(self, server, name: str):
        self.server = server
        self.server.timeout = None      # handle_request blocks until a client (or close) comes
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._closing:
            # A shut-down listening socket makes the wait return and accept fail:
            # handle_request swallows that, and the loop sees _closing.
            self.server.handle_request()

    def close(self):
        self._closing = True
        try:
            self.server.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            # Linux wakes the wait on any listening socket so; were that ever refused, the
            # (daemon) thread is left asleep rather than the caller stuck joining it.
            log.warning("%s: could not wake the server thread; left behind", self._thread.name)
        else:
            self._thread.join()
        self.server.server_close()
