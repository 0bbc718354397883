#!/usr/bin/env python3
"""A small Docker token server (the "auth: token" realm of docker-registry) for tests.

It answers GET /token?service=S&scope=repository:NAME:ACTIONS (scope may repeat)
and the OAuth2 form POST /token (grant_type=password or refresh_token) with an
RS256 JWT that docker-registry verifies against the certificate given to it as
rootcertbundle.  The JWT names its key by "kid", the libtrust key id of the
certificate's public key (what docker-registry indexes its trusted keys by).

Users come from --user NAME:PASSWORD (repeatable); identity tokens from
--refresh TOKEN=NAME.  A known user is granted every action asked for; an
anonymous request gets a token granting nothing (as Docker Hub does for a
private repository); wrong credentials get 401.  Every decision is logged as
one line on stderr, without secrets, for the test to check:
    grant user=alice scope=repository:library/app:pull actions=pull
    refuse user=alice reason=bad-password

Signing uses the openssl command line (the Python standard library has no RSA).
Only 127.0.0.1 is listened on.
"""
import argparse
import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_kid(key_path):
    """libtrust's key id: base32 of the first 240 bits of sha256(DER SPKI), in groups of 4."""
    der = subprocess.run(
        ["openssl", "pkey", "-in", key_path, "-pubout", "-outform", "DER"],
        check=True, capture_output=True).stdout
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class Issuer:
    def __init__(self, args):
        self.key = args.key
        self.kid = libtrust_kid(args.key)
        self.issuer = args.issuer
        self.service = args.service
        self.users = dict(u.split(":", 1) for u in args.user)
        self.refresh = dict(r.split("=", 1) for r in args.refresh)
        self.seq = 0

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=signing_input.encode(), check=True,
                             capture_output=True).stdout
        return signing_input + "." + b64url(sig)

    def token(self, user, scopes):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            granted = actions if user is not None else []
            access.append({"type": kind, "name": name, "actions": granted})
            log("grant user=%s scope=%s actions=%s" %
                (user or "anonymous", scope, ",".join(granted) or "none"))
        now = int(time.time())
        self.seq += 1
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service,
                  "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": "barge-test-%d" % self.seq, "access": access}
        return self.sign(claims)


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    issuer = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def basic_user(self):
        """(user, ok): the Basic user and whether the password is right; (None, True) if none."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None, True
        try:
            user, password = base64.b64decode(auth[6:], validate=True).decode().split(":", 1)
        except Exception:
            return "?", False
        return user, self.issuer.users.get(user) == password

    def grant(self, user, ok, service, scopes, why="bad-password"):
        if not ok:
            log("refuse user=%s reason=%s" % (user, why))
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                       {"WWW-Authenticate": 'Basic realm="barge-test"'})
            return
        if service != self.issuer.service:
            log("refuse user=%s reason=service:%s" % (user, service))
            self.reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
            return
        tok = self.issuer.token(user, scopes)
        self.reply(200, {"token": tok, "access_token": tok, "expires_in": 300,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {})
            return
        q = urllib.parse.parse_qs(url.query)
        user, ok = self.basic_user()
        self.grant(user, ok, q.get("service", [""])[0], q.get("scope", []))

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/token":
            self.reply(404, {})
            return
        n = int(self.headers.get("Content-Length", "0"))
        if n > 65536:
            self.reply(413, {})
            return
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        grant = form.get("grant_type", [""])[0]
        scopes = " ".join(form.get("scope", [])).split()
        service = form.get("service", [""])[0]
        if grant == "refresh_token":
            user = self.issuer.refresh.get(form.get("refresh_token", [""])[0])
            log("refresh user=%s" % (user or "?"))
            self.grant(user or "?", user is not None, service, scopes, "bad-refresh-token")
        elif grant == "password":
            user = form.get("username", [""])[0]
            ok = self.issuer.users.get(user) == form.get("password", [""])[0]
            self.grant(user, ok, service, scopes)
        else:
            self.reply(400, {"error": "unsupported_grant_type"})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True, help="RSA private key (PEM)")
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--user", action="append", default=[], help="NAME:PASSWORD")
    p.add_argument("--refresh", action="append", default=[], help="TOKEN=NAME")
    args = p.parse_args()
    Handler.issuer = Issuer(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    log("listening on 127.0.0.1:%d kid=%s" % (args.port, Handler.issuer.kid))
    srv.serve_forever()


if __name__ == "__main__":
    main()
