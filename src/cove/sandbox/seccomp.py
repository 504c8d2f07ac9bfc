"""A seccomp filter for builds and dynos: system calls an app never needs that are a
common way into kernel bugs answer EPERM, as under Docker's default profile.

Blocked: creating user namespaces (``unshare``, ``setns``, ``clone`` with CLONE_NEWUSER;
``clone3``, whose flags a filter can't read, answers ENOSYS so libc falls back to
``clone``), kernel keyrings, ``bpf``, ``perf_event_open``, ``userfaultfd`` and io_uring.
Everything else is allowed: the sandbox, the app's user and its cgroup do the rest.

The program is classic BPF, loaded by bwrap (``--seccomp FD``). It is a dozen instructions
for one architecture, so it is written out here rather than pulling in libseccomp's
bindings; on other architectures there is no filter, and the start-up report says so.
"""

from __future__ import annotations

import errno
import functools
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
CLONE_NEWUSER = 0x10000000

# x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
CLONE, CLONE3 = 56, 435
BLOCKED = {
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "setns": 308,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
}

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _deny(err: int) -> bytes:
    return _insn(_RET, _ERRNO | err)


@functools.cache
def program() -> bytes | None:
    """The compiled filter for this machine, or None where Cove has none."""
    if platform.machine() != "x86_64":
        return None
    insns = [
        _insn(_LD_ABS, _ARCH),
        _insn(_JEQ, AUDIT_ARCH_X86_64, jt=1),  # 32-bit system calls have other numbers:
        _deny(errno.EPERM),  # refuse them all
        _insn(_LD_ABS, _NR),
        _insn(_JGE, X32_SYSCALL_BIT, jf=1),  # so is the x32 ABI
        _deny(errno.EPERM),
    ]
    for number in sorted(BLOCKED.values()):
        insns += [_insn(_JEQ, number, jf=1), _deny(errno.EPERM)]
    insns += [
        _insn(_JEQ, CLONE3, jf=1),
        _deny(errno.ENOSYS),
        _insn(_JEQ, CLONE, jf=3),
        _insn(_LD_ABS, _ARG0_LOW),  # clone's flags (CLONE_NEWUSER is in the low word)
        _insn(_JSET, CLONE_NEWUSER, jf=1),
        _deny(errno.EPERM),
        _insn(_RET, _ALLOW),
    ]
    return b"".join(insns)
