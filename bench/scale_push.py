#!/usr/bin/env python3
"""bench/scale_push.py: pushes small images through the OCI distribution API
over one keep-alive HTTP connection, for bench/scale.sh (curl in a loop is
too slow for 100,000 tags).

    scale_push.py HOST:PORT REPOS TAGS_PER_REPO [USER:PASSWORD]

Each image: its own config blob, a layer shared by its repository, an OCI
manifest tagged t<N> in PREFIX/r<NNNN>, images like those scale_driver.c
records.  PREFIX is $SCALE_PUSH_PREFIX, "scale" unless set (scale.sh pushes
its sample onto a full store under another prefix, so every push is new).  Prints "pushed N  per_s R" and exits 1 on the first error.
"""
import base64
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.parse


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    host, repos, tags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    headers = {}
    if len(sys.argv) > 4:
        headers["Authorization"] = "Basic " + base64.b64encode(sys.argv[4].encode()).decode()
    conn = http.client.HTTPConnection(host, timeout=60)

    def req(method, path, body=None, extra=None, ok=(200, 201, 202)):
        h = dict(headers)
        h.update(extra or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        if r.status not in ok:
            raise SystemExit("scale_push: %s %s: %d %s" % (method, path, r.status, data[:200]))
        return r

    def blob(repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if req("HEAD", "/v2/%s/blobs/%s" % (repo, digest), ok=(200, 404)).status == 200:
            return digest
        loc = req("POST", "/v2/%s/blobs/uploads/" % repo).getheader("Location")
        u = urllib.parse.urlsplit(loc)
        q = (u.query + "&" if u.query else "") + "digest=" + urllib.parse.quote(digest)
        req("PUT", u.path + "?" + q, body=data,
            extra={"Content-Type": "application/octet-stream"})
        return digest

    prefix = os.environ.get("SCALE_PUSH_PREFIX", "scale")
    t0 = time.monotonic()
    for r in range(repos):
        repo = "%s/r%04d" % (prefix, r)
        layer_text = (("layer of repository %d " % r).ljust(4096, chr(ord("a") + r % 26)))
        layer = blob(repo, layer_text.encode())
        for i in range(tags):
            cfg_text = b'{"config":{},"repo":%d,"image":%d}' % (r, i)
            cfg = blob(repo, cfg_text)
            man = json.dumps({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cfg, "size": len(cfg_text)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": layer, "size": 4096}],
            }, separators=(",", ":")).encode()
            req("PUT", "/v2/%s/manifests/t%d" % (repo, i), body=man,
                extra={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    secs = time.monotonic() - t0
    print("pushed %d  per_s %.0f" % (repos * tags, repos * tags / secs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
