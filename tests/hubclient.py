"""A teacher's tool on a JupyterHub's REST API (a service token), and code run in a student's
kernel through the hub's proxy: the kernel's websocket, as JupyterLab's own front end talks
to it (Jupyter's messaging protocol, one execute_request)."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Hub:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with self._opener.open(req, timeout=timeout) as r:
            text = r.read()
        return json.loads(text) if text else None

    def start(self, user: str, wait: float = 180) -> dict[str, Any]:
        """Start ``user``'s server (POST /hub/api/users/NAME/server) and wait until it is ready."""
        self.api("POST", f"/hub/api/users/{user}/server")
        deadline = time.monotonic() + wait
        while True:
            server = (self.api("GET", f"/hub/api/users/{user}").get("servers") or {}).get("")
            if server and server.get("ready"):
                return dict(server)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{user}'s server is not ready after {wait:g} s: {server}")
            time.sleep(0.5)

    def run(self, user: str, code: str, timeout: float = 600) -> tuple[str, str]:
        """Run ``code`` in a new kernel of ``user``'s server: (status, what it printed)."""
        kernel = self.api("POST", f"/user/{user}/api/kernels", {"name": "python3"})
        try:
            return asyncio.run(self._execute(user, kernel["id"], code, timeout))
        finally:
            self.api("DELETE", f"/user/{user}/api/kernels/{kernel['id']}")

    async def _execute(self, user: str, kernel: str, code: str, timeout: float) -> tuple[str, str]:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        ws = self.url.replace("http://", "ws://", 1) + f"/user/{user}/api/kernels/{kernel}/channels"
        conn = await websocket_connect(HTTPRequest(ws, headers={"Authorization": f"token {self.token}"}))
        session = uuid.uuid4().hex
        seen: list[str] = []  # what came, for the error when nothing ends

        def send(msg_type: str, content: dict[str, Any]) -> str:
            msg_id = uuid.uuid4().hex
            conn.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": msg_type, "username": "teacher", "session": session,
                           "date": "", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [], "content": content}))
            return msg_id

        async def receive(until: float) -> dict[str, Any]:
            raw = await asyncio.wait_for(conn.read_message(), max(0.1, until - time.monotonic()))
            if raw is None:
                raise ConnectionError(f"{user}'s kernel closed its websocket; seen: {seen[-20:]}")
            msg = json.loads(raw)
            seen.append(f"{msg.get('channel')}:{msg['header']['msg_type']}")
            return dict(msg)

        deadline = time.monotonic() + timeout
        try:
            # as JupyterLab does: a request sent before the kernel is ready may be lost, so ask
            # kernel_info until the kernel answers, then send the code
            ready = False
            while not ready:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{user}'s kernel never answered kernel_info; seen: {seen[-20:]}")
                info_id = send("kernel_info_request", {})
                until = min(deadline, time.monotonic() + 3)
                try:
                    while not ready:
                        msg = await receive(until)
                        ready = (msg["header"]["msg_type"] == "kernel_info_reply"
                                 and msg.get("parent_header", {}).get("msg_id") == info_id)
                except asyncio.TimeoutError:
                    continue
            msg_id = send("execute_request", {"code": code, "silent": False, "store_history": False,
                                              "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
            out: list[str] = []
            status = None
            idle = False  # the reply (shell) and the idle status (iopub) come in either order
            while True:
                try:
                    msg = await receive(deadline)
                except asyncio.TimeoutError:
                    raise TimeoutError(f"{user}'s code did not finish in {timeout:g} s; it printed "
                                       f"{''.join(out)[-1500:]!r}; seen: {seen[-20:]}") from None
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    out.append("\n".join(msg["content"]["traceback"]))
                elif kind == "execute_reply":
                    status = msg["content"]["status"]
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                if status is not None and idle:
                    return status, "".join(out)
        finally:
            conn.close()


def log_in(url: str, user: str, password: str) -> tuple[int, str]:
    """A browser's login at /hub/login (the form, its _xsrf cookie): (status, where it sends)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar),
                                         _NoRedirect())
    with opener.open(f"{url}/hub/login", timeout=30) as r:
        page = r.read().decode()
    found = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert found, "no _xsrf field on the login page"
    form = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": found.group(1)}).encode()
    try:
        with opener.open(f"{url}/hub/login", data=form, timeout=60) as r:
            return r.status, r.headers.get("Location") or ""
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location") or ""
