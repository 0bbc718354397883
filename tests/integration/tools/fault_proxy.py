#!/usr/bin/env python3
"""An HTTP reverse proxy on 127.0.0.1 that misbehaves on purpose, for fault tests.

    fault_proxy.py --port P --upstream 127.0.0.1:5000 [--throttle N] [--rate BYTES_PER_S]

--throttle N: the first N requests under /v2/<name>/ are answered
  "429 Too Many Requests" with "Retry-After: 1" instead of being forwarded.
--rate R: response bodies are sent at about R bytes per second, so a test has
  time to stop the upstream in the middle of a transfer.

Everything else is forwarded unchanged (GET and HEAD; Range included).  One
line per request goes to stderr, for the test to count:
    429 GET /v2/library/app/manifests/1.0
    fwd 200 GET /v2/library/app/blobs/sha256:... range=bytes=100-
"""
import argparse
import http.client
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "host"}


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cfg = None
    lock = threading.Lock()
    throttled = 0

    def log_message(self, fmt, *args):
        pass

    def throttle(self):
        if not self.path.startswith("/v2/") or self.path == "/v2/":
            return False
        with Handler.lock:
            if Handler.throttled >= self.cfg.throttle:
                return False
            Handler.throttled += 1
        body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
        self.send_response(429)
        self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log("429 %s %s" % (self.command, self.path))
        return True

    def forward(self):
        if self.throttle():
            return
        host, port = self.cfg.upstream.rsplit(":", 1)
        up = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = self.cfg.upstream
        try:
            up.request(self.command, self.path, headers=headers)
            resp = up.getresponse()
        except OSError as e:
            body = b"upstream unreachable"
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            log("502 %s %s (%s)" % (self.command, self.path, e))
            return
        length = resp.getheader("Content-Length")
        data = None
        if length is None and self.command != "HEAD":
            data = resp.read()
            length = str(len(data))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        log("fwd %d %s %s range=%s" % (resp.status, self.command, self.path,
                                       self.headers.get("Range", "-")))
        if self.command == "HEAD":
            return
        if data is not None:
            self.wfile.write(data)
            return
        chunk = 64 * 1024 if self.cfg.rate == 0 else max(1024, self.cfg.rate // 20)
        while True:
            buf = resp.read(chunk)
            if not buf:
                break
            self.wfile.write(buf)
            if self.cfg.rate > 0:
                time.sleep(len(buf) / self.cfg.rate)
        up.close()

    def do_GET(self):
        self.forward()

    def do_HEAD(self):
        self.forward()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="127.0.0.1:PORT")
    p.add_argument("--throttle", type=int, default=0)
    p.add_argument("--rate", type=int, default=0)
    Handler.cfg = p.parse_args()
    if not Handler.cfg.upstream.startswith("127.0.0.1:"):
        sys.exit("upstream must be on 127.0.0.1")
    srv = ThreadingHTTPServer(("127.0.0.1", Handler.cfg.port), Handler)
    srv.daemon_threads = True
    log("listening on 127.0.0.1:%d" % Handler.cfg.port)
    srv.serve_forever()


if __name__ == "__main__":
    main()
