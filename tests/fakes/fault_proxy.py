#!/usr/bin/python3
"""fault_proxy.py - a fault-injecting HTTP proxy in front of a real Swift.

Listens on 127.0.0.1 (port 0 unless --port), writes its port to
--port-file (and prints it), and forwards every request to --upstream
(http://127.0.0.1:PORT), streaming bodies both ways. Python 3 standard
library only; run it with /usr/bin/python3.

Faults come from a plan: a JSON list of rules, taken from --plan FILE
(re-read before every request; counters restart when its text changes)
or set through the control endpoint (which replaces the file's plan):

    PUT  /__fault__/plan    body: the JSON plan (counters restart)
    DELETE /__fault__/plan  no faults
    GET  /__fault__/stats   {"requests": N, "faults": N, "rules": [hits]}

A rule:
    {"method": "PUT",            regex on the method (fullmatch), or "*"
     "path": "/v1/AUTH_test/c\\+segments/.*",   regex (search) on the path
                                 (query string included)
     "nth": 1,                   first matching request to hit (1-based)
     "count": 1,                 how many matching requests in a row (a
                                 burst); 0 = every one from nth on
     "action": "status" | "stall" | "cut" | "reset" | "delay" | "lost"
               | "corrupt",
     "status": 503,              for "status": 503, 429, 500, 401, 404, 413
     "body": "...",              for "status": the body (default: a line
                                 naming the fault; JSON if it starts "{")
     "delay": 3,                 for "delay": seconds to sit silent after
                                 reading the request, then forward it
     "stall": 30,                for "stall": seconds to sit silent after
                                 reading the request, then close
     "cut_after": 1000}          for "cut": body bytes sent before the
                                 connection is closed (the headers carry
                                 the full Content-Length)
"lost" forwards the request, reads Swift's whole answer (so what Swift
does, it finishes) and resets the client's connection instead of
relaying it: a request that took effect and whose answer never came.
"corrupt" forwards the request with the first byte of its body inverted
(bits flipped in flight) and relays Swift's answer.

The first rule whose window holds the request applies; every matching
rule counts the request. Every request is logged to --log, one line:
    METHOD PATH STATUS ACTION
(ACTION is "pass" or the fault), flushed per line, so tests can count.
A stall the client gives up on first (it closes its end) logs a second
line, ACTION "stall-abandoned": the client's stall timeout fired.
Stops on SIGTERM/SIGINT.
"""

import argparse
import http.client
import json
import os
import re
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

CHUNK = 1 << 16
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailers",
       "transfer-encoding", "upgrade"}


class Plan:
    """The rules and their match counters; one lock around both."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.text = None        # text of the file the rules came from
        self.rules = []
        self.hits = []
        self.override = False   # set through the control endpoint
        self.requests = 0
        self.faults = 0

    def _load(self, text):
        rules = json.loads(text) if text.strip() else []
        if not isinstance(rules, list):
            raise ValueError("plan is not a JSON list")
        for r in rules:
            r["_m"] = re.compile(r.get("method", "*").replace("*", ".*"))
            r["_p"] = re.compile(r.get("path", ".*"))
        self.rules = rules
        self.hits = [0] * len(rules)

    def set(self, text):
        with self.lock:
            self._load(text)
            self.override = True
            self.text = None

    def _refresh(self):
        if self.override or not self.path:
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        if text != self.text:
            try:
                self._load(text)
            except (ValueError, re.error) as e:
                sys.stderr.write("fault_proxy: bad plan: %s\n" % e)
                self.rules, self.hits = [], []
            self.text = text

    def match(self, method, path):
        """The rule to apply to this request, or None."""
        with self.lock:
            self._refresh()
            self.requests += 1
            chosen = None
            for i, r in enumerate(self.rules):
                if not r["_m"].fullmatch(method) or \
                   not r["_p"].search(path):
                    continue
                self.hits[i] += 1
                n = self.hits[i]
                first = int(r.get("nth", 1))
                count = int(r.get("count", 1))
                if chosen is None and n >= first and \
                   (count == 0 or n < first + count):
                    chosen = r
            if chosen is not None:
                self.faults += 1
            return chosen

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "faults": self.faults,
                    "rules": list(self.hits)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault_proxy"

    def log_message(self, fmt, *args):
        pass

    def _log(self, status, action):
        srv = self.server
        with srv.log_lock:
            if srv.log:
                srv.log.write("%s %s %s %s\n" % (self.command, self.path,
                                                 status, action))
                srv.log.flush()

    def _read_body(self):
        """Yields the request body in chunks (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    return
                left = size
                while left > 0:
                    b = self.rfile.read(min(left, CHUNK))
                    if not b:
                        return
                    left -= len(b)
                    yield b
                self.rfile.readline(16)
            return
        left = int(self.headers.get("Content-Length", "0") or 0)
        while left > 0:
            b = self.rfile.read(min(left, CHUNK))
            if not b:
                return
            left -= len(b)
            yield b

    def _drain(self):
        for _ in self._read_body():
            pass

    def _reply(self, status, body=b"", close=False, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Trans-Id", "txfault")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self):
        # SO_LINGER 0: close() sends RST instead of FIN
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _client_left(self, secs):
        """Waits up to secs; True if the client closed its end first (its
        stall timeout gave up on us)."""
        deadline = time.monotonic() + secs
        sock = self.connection
        while not self.server.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([sock], [], [], min(left, 0.2))
            if not ready:
                continue
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    return True
            except OSError:
                return True
            # bytes of a next request: not gone; do not spin on them
            self.server.stop.wait(min(left, 0.2))
        return False

    def _control(self):
        srv = self.server
        what = self.path[len("/__fault__/"):]
        if what == "plan" and self.command in ("PUT", "POST"):
            body = b"".join(self._read_body())
            try:
                srv.plan.set(body.decode("utf-8"))
            except (ValueError, re.error) as e:
                self._reply(400, ("%s\n" % e).encode())
                return
            self._reply(204)
        elif what == "plan" and self.command == "DELETE":
            srv.plan.set("[]")
            self._reply(204)
        elif what == "stats":
            self._drain()
            self._reply(200, json.dumps(srv.plan.stats()).encode() + b"\n",
                        headers=[("Content-Type", "application/json")])
        else:
            self._drain()
            self._reply(404, b"no such control\n")

    def _handle(self):
        if self.path.startswith("/__fault__/"):
            self._control()
            return
        rule = self.server.plan.match(self.command, self.path)
        action = rule.get("action", "status") if rule else "pass"
        if action == "status":
            self._drain()
            status = int(rule.get("status", 503))
            self._log(status, "fault")
            body = rule.get("body")
            if body is None:
                self._reply(status, b"fault_proxy: injected %d\n" % status)
            else:
                ctype = "application/json" if body.startswith("{") \
                    else "text/plain"
                self._reply(status, body.encode(),
                            headers=[("Content-Type", ctype)])
            return
        if action == "delay":
            self.server.stop.wait(float(rule.get("delay", 3)))
            self._log(0, "delay")
            self._forward(None)
            return
        if action == "stall":
            self._drain()
            self._log(0, "stall")
            if self._client_left(float(rule.get("stall", 30))):
                self._log(0, "stall-abandoned")
            self.close_connection = True
            return
        if action == "reset":
            self._drain()
            self._log(0, "reset")
            self._reset()
            return
        self._forward(rule if action == "cut" else None, action == "lost",
                      action == "corrupt")

    def _forward(self, cut, lost=False, corrupt=False):
        srv = self.server
        up = http.client.HTTPConnection(srv.up_host, srv.up_port,
                                        timeout=srv.up_timeout)
        try:
            up.putrequest(self.command, self.path, skip_host=True,
                          skip_accept_encoding=True)
            chunked = False
            for k, v in self.headers.items():
                lk = k.lower()
                if lk in HOP and lk != "transfer-encoding":
                    continue
                if lk == "transfer-encoding":
                    chunked = "chunked" in v.lower()
                    if not chunked:
                        continue
                up.putheader(k, v)
            up.putheader("Connection", "close")
            up.endheaders()
            for b in self._read_body():
                if corrupt and b:
                    b = bytes([b[0] ^ 0xFF]) + b[1:]
                    corrupt = False
                    self._log(0, "corrupt")
                if chunked:
                    up.send(b"%x\r\n%s\r\n" % (len(b), b))
                else:
                    up.send(b)
            if chunked:
                up.send(b"0\r\n\r\n")
            resp = up.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self._log(502, "upstream-down")
            self._reply(502, ("fault_proxy: upstream: %s\n" % e).encode(),
                        close=True)
            up.close()
            return
        try:
            if lost:
                resp.read()
                self._log(resp.status, "lost")
                self._reset()
            else:
                self._relay(resp, cut)
        finally:
            up.close()

    def _relay(self, resp, cut):
        length = resp.getheader("Content-Length")
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() in HOP or k.lower() in ("content-length", "date",
                                                 "server"):
                continue
            self.send_header(k, v)
        body_allowed = self.command != "HEAD" and resp.status not in \
            (204, 304) and not 100 <= resp.status < 200
        if length is not None:
            self.send_header("Content-Length", length)
        elif body_allowed:
            # unknown length: close-delimited
            self.close_connection = True
        if cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not body_allowed:
            resp.read()
            self._log(resp.status, "pass")
            return
        limit = int(cut.get("cut_after", 0)) if cut is not None else None
        sent = 0
        while True:
            want = CHUNK if limit is None else min(CHUNK, limit - sent)
            if want <= 0:
                break
            b = resp.read(want)
            if not b:
                break
            self.wfile.write(b)
            sent += len(b)
        if cut is not None:
            self._log(resp.status, "cut")
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._log(resp.status, "pass")

    def _safe(self):
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_COPY = _safe
    do_OPTIONS = do_PATCH = _safe


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True,
                    help="http://127.0.0.1:PORT of the real proxy")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--plan", help="JSON plan file, re-read per request")
    ap.add_argument("--log", help="request log file")
    ap.add_argument("--upstream-timeout", type=float, default=60)
    a = ap.parse_args()

    u = urllib.parse.urlsplit(a.upstream)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.up_host = u.hostname
    srv.up_port = u.port or 80
    srv.up_timeout = a.upstream_timeout
    srv.plan = Plan(a.plan)
    srv.log = open(a.log, "a", encoding="utf-8") if a.log else None
    srv.log_lock = threading.Lock()
    srv.stop = threading.Event()

    def on_signal(signum, frame):
        srv.stop.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w", encoding="utf-8") as f:
            f.write("%d\n" % port)
        os.rename(a.port_file + ".tmp", a.port_file)
    print(port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        if srv.log:
            srv.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
