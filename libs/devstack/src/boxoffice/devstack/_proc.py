"""Process and port helpers shared by the broker wrapper and the launcher."""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import signal
import socket
import sys
from collections.abc import Callable

import psutil

_PR_SET_PDEATHSIG = 1


class PortInUseError(RuntimeError):
    """Raised when a port the stack needs is already bound by someone else."""

    def __init__(self, host: str, port: int, what: str) -> None:
        self.host = host
        self.port = port
        self.what = what
        super().__init__(
            f"port {port} on {host} ({what}) is already in use; stop whatever holds it "
            f"(a previous stack still running?) or choose another port"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is currently free on ``host``.

    Args:
        host: Interface address to probe.

    Returns:
        A port number the kernel just handed out; another process may still
        grab it before the caller binds it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """Tell whether a server could bind ``host:port`` right now.

    Args:
        host: Interface address.
        port: TCP port.

    Returns:
        False when something listens there (or the bind is refused).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers (Tansu, uvicorn, asyncio) set SO_REUSEADDR, so lingering
        # TIME_WAIT connections from a previous run must not count as "busy".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Raise :class:`PortInUseError` when ``host:port`` cannot be bound.

    Args:
        host: Interface address.
        port: TCP port.
        what: Human name of the component that wants the port (used in the message).

    Raises:
        PortInUseError: The port is taken.
    """
    if not port_is_free(host, port):
        raise PortInUseError(host, port, what)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    # Resolved in the parent: dlopen-ing after fork() would not be async-signal-safe.
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def child_preexec() -> Callable[[], None] | None:
    """Build a ``preexec_fn`` that ties the child's life to this process.

    On Linux the child gets ``PR_SET_PDEATHSIG(SIGTERM)``, so it is terminated
    when the *thread* that forked it dies; spawn from a long-lived thread
    (normally the main one). Elsewhere there is no equivalent and ``None`` is
    returned.

    Returns:
        A callable for :class:`subprocess.Popen`'s ``preexec_fn``, or None.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent_pid = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The parent may have died between fork() and prctl(); the signal
        # would then never come, so deliver it ourselves.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group led by ``pid`` (falling back to ``pid``).

    Children are started as group leaders so that helpers they spawn are
    signalled with them.

    Args:
        pid: Group leader's pid.
        sig: Signal number.
    """
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    except PermissionError:
        # Not our group after all (e.g. the leader re-grouped itself): signal it alone.
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[psutil.Process]:
    """Snapshot the live descendants of ``pid``.

    Args:
        pid: Process whose children, grandchildren... are wanted.

    Returns:
        The descendants found now; empty when ``pid`` is gone.
    """
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_leftovers(procs: list[psutil.Process]) -> None:
    """SIGKILL those of ``procs`` that are still running.

    ``psutil.Process.is_running`` compares creation times, so a recycled pid
    is never hit.

    Args:
        procs: A snapshot taken with :func:`descendants` before stopping.
    """
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                proc.kill()
        except psutil.Error:
            pass
