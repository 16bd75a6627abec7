"""The JupyterLab server the browser tests start listens on loopback only, and only with its token:
checked on the running server (its listening sockets, answers without / with a wrong token) and on a
kernel it starts (the kernel's ports are bound to 127.0.0.1 and its messages are signed)."""
from __future__ import annotations

import ipaddress
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def _listening(port: int) -> list[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    out = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            local, state = f[1], f[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:      # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr_hex)
            # the kernel prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.append(str(ipaddress.ip_address(raw)))
    return out


def _status(url: str, headers=None) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_server_listens_on_loopback_only(lab_server):
    addrs = _listening(lab_server.port)
    assert addrs, f"nothing listens on port {lab_server.port}"
    assert all(ipaddress.ip_address(a).is_loopback for a in addrs), addrs


def test_server_answers_only_with_its_token(lab_server):
    api = lab_server.base + "api/contents"
    assert lab_server.token and len(lab_server.token) >= 32
    assert _status(api) == 403
    assert _status(api, {"Authorization": "token not-the-token"}) == 403
    assert _status(api + "?token=" + "0" * len(lab_server.token)) == 403
    assert _status(api, {"Authorization": f"token {lab_server.token}"}) == 200


def test_kernels_bind_loopback_and_sign_messages(lab_server):
    kernel = json.loads(_request(lab_server, "api/kernels", "POST"))
    try:
        runtime = Path(lab_server.env["JUPYTER_RUNTIME_DIR"])
        conn = runtime / f"kernel-{kernel['id']}.json"
        deadline = time.monotonic() + 30
        while not conn.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        info = json.loads(conn.read_text())
        assert info["ip"] == "127.0.0.1" and info["transport"] == "tcp"
        assert info["key"] and info["signature_scheme"].startswith("hmac-")
        names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
        # the connection file is written before the kernel binds: wait until every port listens
        seen = {name: _listening(int(info[name])) for name in names}
        while not all(seen.values()) and time.monotonic() < deadline + 30:
            time.sleep(0.2)
            seen = {name: _listening(int(info[name])) for name in names}
        assert all(seen.values()), f"kernel ports with no listening socket: {[n for n, a in seen.items() if not a]}"
        for name, addrs in seen.items():
            assert all(ipaddress.ip_address(a).is_loopback for a in addrs), (name, addrs)
    finally:
        _request(lab_server, f"api/kernels/{kernel['id']}", "DELETE")


def _request(server, path: str, method: str) -> bytes:
    req = urllib.request.Request(server.base + path, method=method, data=b"{}" if method == "POST" else None,
                                 headers={"Authorization": f"token {server.token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()
