"""No network in the test suite: a guard on Python's sockets, installed by tests/conftest.py.

Outbound connections and name lookups are allowed only for loopback (``localhost``, 127.0.0.0/8,
``::1``) and Unix sockets; a server may bind only to a loopback address (never ``0.0.0.0``). Anything
else raises ``OSError`` at once (so code that treats the network as down behaves as offline) and is
recorded; the autouse fixture in conftest.py fails the test that tried.
"""
from __future__ import annotations

import errno
import ipaddress
import socket

ATTEMPTS: list = []
_REAL = {}
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_loopback(host, for_bind: bool = False) -> bool:
    if host is None or host == "":
        return not for_bind                 # connect(""): this host; bind(""): every interface
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host)
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkBlocked(OSError):
    pass


def _refuse(what, target):
    ATTEMPTS.append(f"{what} {target}")
    raise NetworkBlocked(errno.ENETUNREACH, f"network access is blocked in the test suite ({what} {target})")


def _check(sock, address, what, for_bind=False):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host, for_bind=for_bind):
        _refuse(what, address)


def _connect(self, address):
    _check(self, address, "connect to")
    return _REAL["connect"](self, address)


def _connect_ex(self, address):
    _check(self, address, "connect to")
    return _REAL["connect_ex"](self, address)


def _bind(self, address):
    _check(self, address, "listen on", for_bind=True)
    return _REAL["bind"](self, address)


def _getaddrinfo(host, *args, **kwargs):
    if not is_loopback(host):
        _refuse("look up", host)
    return _REAL["getaddrinfo"](host, *args, **kwargs)


def install() -> None:
    if _REAL:
        return
    _REAL.update(connect=socket.socket.connect, connect_ex=socket.socket.connect_ex, bind=socket.socket.bind,
                 getaddrinfo=socket.getaddrinfo)
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.socket.bind = _bind
    socket.getaddrinfo = _getaddrinfo
