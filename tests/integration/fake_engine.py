"""A Docker-API-shaped server on a unix socket, standard library only, run as a learner's
account: what a learner who controls the engine at /run/user/UID/docker.sock can make it say.

    python3 fake_engine.py SOCKET MODE LABS_JSON

LABS_JSON: [[lab, owner label, socket folder the machine "mounts"], ...]; each becomes a
running machine container of swarmlab's labels. MODE ``stall``: /containers/json sends its
headers, then a space every 2 s, forever. Prints ``ready`` once it listens."""

from __future__ import annotations

import json
import os
import re
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler

PATH, MODE, LABS = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


def _container(i: int, lab: str, who: str, mount: str) -> dict:
    labels = {"io.swarmlab.lab": lab, "io.swarmlab.owner": who, "io.swarmlab.provider": "dind",
              "io.swarmlab.role": "machine", "io.swarmlab.machine": "manager1", "io.swarmlab.api": "socket",
              "io.swarmlab.security": "privileged"}
    return {"Id": f"{i + 1:064x}", "Names": [f"/{lab}-manager1"], "Image": "docker:dind", "State": "running",
            "Status": "Up 1 hour", "Labels": labels,
            "Mounts": [{"Type": "bind", "Source": mount, "Destination": "/run/swarmlab"}],
            "NetworkSettings": {"Networks": {f"{lab}-net": {"IPAddress": "10.99.0.2"}}}}


CONTAINERS = [_container(i, *x) for i, x in enumerate(LABS)]


def _inspect(c: dict) -> dict:
    return {"Id": c["Id"], "Name": c["Names"][0], "Config": {"Labels": c["Labels"], "Image": c["Image"]},
            "State": {"Status": "running", "Running": True, "Pid": 1}, "Mounts": c["Mounts"],
            "NetworkSettings": {"Networks": c["NetworkSettings"]["Networks"], "Ports": {}},
            "HostConfig": {"Privileged": True}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: object, kind: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stall(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.flush()
        while True:
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(2)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = re.sub(r"^/v[0-9.]+", "", self.path.split("?")[0])
        if path == "/_ping":
            return self._send(200, b"OK", "text/plain")
        if path == "/version":
            return self._send(200, {"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "20.10.24"})
        if path == "/info":
            return self._send(200, {"ID": "FAKE", "Name": "fake", "SecurityOptions": ["name=rootless"],
                                    "Swarm": {"LocalNodeState": "inactive"}})
        if path == "/networks":
            return self._send(200, [])
        if path == "/volumes":
            return self._send(200, {"Volumes": [], "Warnings": None})
        if path == "/containers/json":
            return self._stall() if MODE == "stall" else self._send(200, CONTAINERS)
        found = re.fullmatch(r"/containers/([^/]+)/json", path)
        for c in CONTAINERS if found else []:
            if found and found.group(1) in (c["Id"], c["Names"][0][1:]):
                return self._send(200, _inspect(c))
        return self._send(404, {"message": "no such thing here"})

    do_POST = do_GET  # noqa: N815
    do_DELETE = do_GET  # noqa: N815


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    if os.path.lexists(PATH):
        os.unlink(PATH)
    server = Server(PATH, Handler)
    print("ready", flush=True)
    server.serve_forever()
