"""A gate for tests that must hold an app's process at a known point: the process connects,
says one line (who it is, or what it was given), and blocks until the test lets it go."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Gate:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.arrivals: queue.Queue[tuple[str, socket.socket]] = queue.Queue()
        self.arrived = 0  # every arrival, held or let through
        self.closed = False
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            said = conn.makefile().readline().strip()
            with self.lock:
                self.arrived += 1
                if self.closed:
                    self.let_go(conn)
                else:
                    self.arrivals.put((said, conn))

    @staticmethod
    def let_go(conn: socket.socket) -> None:
        conn.sendall(b"go\n")
        conn.close()

    def next(self, timeout: float = 600) -> tuple[str, socket.socket]:
        """The next arrival (what it said, and its connection to let go of)."""
        return self.arrivals.get(timeout=timeout)

    @contextmanager
    def holding(self, said: str) -> Iterator[None]:
        """Wait for the arrival that says ``said``, hold it for the block, then let it go."""
        arrived, conn = self.next()
        assert arrived == said
        try:
            yield
        finally:
            self.let_go(conn)

    def close(self) -> None:
        """Let everyone waiting go, now and from now on."""
        with self.lock:
            self.closed = True
            while not self.arrivals.empty():
                self.let_go(self.arrivals.get()[1])
