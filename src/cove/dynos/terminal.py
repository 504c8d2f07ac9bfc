"""An attached one-off dyno's stdio (``cove run``): a pseudo-terminal, or pipes.

The server keeps the master side (or the pipes' other ends) as non-blocking file
descriptors, which the rendezvous listener reads and writes; the dyno gets the slave as
stdin, stdout and stderr. Inside the sandbox, ``setsid --ctty`` makes it the controlling
terminal of the command's session (see ``cove.dynos.local``), so ^C, job control and
SIGWINCH work as on a login terminal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios

from cove.dynos.backend import Attach

IUTF8 = 0o040000  # (termios lacks it before Python 3.13; Linux's value)


def _set_size(fd: int, columns: int, lines: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))


class LocalTerminal:
    def __init__(self, tty: bool, output_fd: int, input_fd: int) -> None:
        self.tty = tty
        self.output_fd = output_fd
        self.input_fd: int | None = input_fd

    def resize(self, columns: int, lines: int) -> None:
        if self.tty and self.output_fd >= 0:
            _set_size(self.output_fd, columns, lines)

    def close_input(self) -> None:
        if self.tty or self.input_fd is None:
            return
        fd, self.input_fd = self.input_fd, None
        with contextlib.suppress(OSError):
            os.close(fd)

    def close(self) -> None:
        self.close_input()
        fd, self.output_fd = self.output_fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.input_fd = None


def open_terminal(attach: Attach, owner: tuple[int, int] | None) -> tuple[LocalTerminal, int, int]:
    """The server's ends, and the dyno's stdin and stdout (stderr joins stdout): close
    the dyno's ends once it has started. A PTY's slave belongs to ``owner`` (uid, gid),
    the app's user, as a login terminal belongs to its user."""
    if attach.tty:
        master, slave = os.openpty()
        try:
            _set_size(master, attach.columns, attach.lines)
            mode = termios.tcgetattr(slave)
            mode[0] |= IUTF8  # (erasing a multi-byte character erases all of it)
            termios.tcsetattr(slave, termios.TCSANOW, mode)
            if owner is not None:
                os.fchown(slave, *owner)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        os.set_blocking(master, False)
        return LocalTerminal(True, master, master), slave, slave
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    os.set_blocking(stdin_w, False)
    os.set_blocking(stdout_r, False)
    return LocalTerminal(False, stdout_r, stdin_w), stdin_r, stdout_w


def close_child_ends(stdin: int, stdout: int) -> None:
    os.close(stdin)
    if stdout != stdin:
        os.close(stdout)
