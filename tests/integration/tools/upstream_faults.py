#!/usr/bin/env python3
"""A reverse proxy on 127.0.0.1 in front of a registry, whose behaviour a test
switches at any time by writing one word into a mode file (read per request):

    upstream_faults.py --port P --upstream 127.0.0.1:5000 --mode-file F

    pass      forward unchanged (also when F is missing or empty)
    hang      accept the request and never answer
    500       answer 500 Internal Server Error
    429       answer 429 Too Many Requests (Retry-After: 1)
    cut:N     forward, but close the connection after N bytes of any body
              larger than N
    slow:R    forward bodies at about R bytes per second

One line per request goes to stderr ("MODE STATUS METHOD PATH"), for the test
to count what reached the upstream.
"""
import argparse
import http.client
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cfg = None

    def log_message(self, fmt, *args):
        pass

    def mode(self):
        try:
            with open(self.cfg.mode_file) as f:
                return f.read().strip() or "pass"
        except OSError:
            return "pass"

    def answer(self, status, extra=None):
        body = b'{"errors":[{"code":"UNKNOWN","message":"fault"}]}'
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        mode = self.mode()
        if mode == "hang":
            log("hang - %s %s" % (self.command, self.path))
            while True:
                time.sleep(3600)
        if mode == "500":
            log("500 500 %s %s" % (self.command, self.path))
            return self.answer(500)
        if mode == "429":
            log("429 429 %s %s" % (self.command, self.path))
            return self.answer(429, {"Retry-After": "1"})
        conn = http.client.HTTPConnection(self.cfg.upstream, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(self.command, self.path, headers=hdrs)
        resp = conn.getresponse()
        log("%s %d %s %s" % (mode, resp.status, self.command, self.path))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        sent = 0
        cut = int(mode[4:]) if mode.startswith("cut:") else -1
        rate = int(mode[5:]) if mode.startswith("slow:") else 0
        while True:
            chunk = resp.read(16384)
            if not chunk:
                break
            if cut >= 0 and sent + len(chunk) > cut:
                self.wfile.write(chunk[: cut - sent])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(chunk)
            sent += len(chunk)
            if rate:
                time.sleep(len(chunk) / rate)

    do_GET = handle_any
    do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--mode-file", required=True)
    Handler.cfg = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", Handler.cfg.port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
