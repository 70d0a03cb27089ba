"""A session kept open to each peer's `fmirror serve` (serve.serve_link): small requests, no process per request.

A peer check every 5 s, a rename before a push: each would otherwise start
ssh here and the forced command there (~20 ms of CPU on the peer). Over a
link they are one line out and one line back. Only protocol.LINKED requests
go over a link. When a link fails — broken, too slow, closed by the peer
because its configuration changed — the request is sent again the ordinary
way (ssh.call does), so a link only ever saves time. Replaying is safe: the
linked requests only read, or rename a path that a replay finds gone.
"""

import logging
import os
import select
import shlex
import threading
import time

from fmirror import process, protocol, ssh
from fmirror.config.model import Config, Node
from fmirror.errors import Error

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 16


class LinkBroken(Error):
    """the link to {} broke: {}"""


class Link:
    """One peer's session; requests on it go one at a time."""

    def __init__(self, cfg: Config, peer: Node):
        self.cfg, self.peer = cfg, peer
        self.proc = None
        self.pending = b""
        self.lock = threading.Lock()
        self.requests = 0   # answered over the link
        self.broken = 0     # sent again the ordinary way

    def call(self, words: list, input: bytes | None, timeout: float) -> tuple | None:
        """(status, stdout, stderr) of the request, or None: the caller sends it the ordinary way."""
        deadline = time.monotonic() + timeout
        with self.lock:
            try:
                self._open()
                self.proc.stdin.write(protocol.link_request(words, input))
                self.proc.stdin.flush()
                answer = protocol.read_link_answer(self._line(deadline))
            except (Error, OSError, ValueError) as e:
                log.debug("%s: link failed, sending the ordinary way: %s", self.peer.name, e)
                self.broken += 1
                self._close()
                return None
            self.requests += 1
            return answer

    def open(self):
        """Open the session now rather than at the first request (Links.keep).

        Never waits: a request under way holds the lock, and opens the session itself.
        """
        if not self.lock.acquire(blocking=False):
            return
        try:
            self._open()
        finally:
            self.lock.release()

    def is_open(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _open(self):
        if self.is_open():
            return
        self._close()
        ssh.prepare(self.cfg)
        words = protocol.request("link", "--epoch", 0, "--from", self.cfg.node)
        argv = ssh.ssh_argv(self.cfg) + [self.peer.address, shlex.join(words)]
        self.proc = process.spawn(argv, stdin=process.PIPE, stdout=process.PIPE, stderr=process.DEVNULL)

    def _line(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise LinkBroken(self.peer.name, "no answer in time")
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                raise LinkBroken(self.peer.name, "closed")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def _close(self):
        self.pending = b""
        if self.proc is not None:
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            process.stop(self.proc, grace=1.0)
            self.proc = None

    def close(self):
        with self.lock:
            self._close()


class Links:
    """The daemon's links, one per peer, closed together when it stops or reloads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.links: dict[tuple, Link] = {}

    def call(self, cfg: Config, peer: Node, words: list, input: bytes | None, timeout: float) -> tuple | None:
        return self._link(cfg, peer).call(words, input, timeout)

    def keep(self, cfg: Config, peer: Node):
        """Open the link to peer now, without a request.

        Its session holds the shared ssh connection, which otherwise ends
        ssh.CONTROL_PERSIST after its last session: a master whose first
        change came more than a minute after its full sync paid a whole
        handshake for that push (0.4–1.2 s in the scale bench). Called
        after every push; an open link costs a poll().
        """
        self._link(cfg, peer).open()

    def _link(self, cfg: Config, peer: Node) -> Link:
        with self.lock:
            key = (peer.name, peer.address)
            link = self.links.get(key)
            if link is None or link.cfg is not cfg:
                if link is not None:
                    link.close()
                link = self.links[key] = Link(cfg, peer)
            return link

    def counts(self) -> dict:
        with self.lock:
            return {link.peer.name: {"requests": link.requests, "broken": link.broken, "open": link.is_open()}
                    for link in self.links.values()}

    def close(self):
        with self.lock:
            links, self.links = list(self.links.values()), {}
        for link in links:
            link.close()
