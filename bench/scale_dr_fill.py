#!/usr/bin/env python3
"""bench/scale_dr_fill.py: writes the content of a barged store into
docker-registry's filesystem storage directly, for bench/scale.sh (pushing
100,000 images through docker-registry's API runs at about 11/s).

    scale_dr_fill.py BARGED_DATA_DIR REGISTRY_ROOT

Writes the layout docker-registry's own pushes leave (scale.sh checks the
tree against one it wrote), under REGISTRY_ROOT/docker/registry/v2:
    blobs/sha256/<2 hex>/<hex>/data          hard link to barged's blob
    repositories/<repo>/_layers/sha256/<hex>/link          "sha256:<hex>"
    repositories/<repo>/_manifests/revisions/sha256/<hex>/link
    repositories/<repo>/_manifests/tags/<tag>/current/link
    repositories/<repo>/_manifests/tags/<tag>/index/sha256/<hex>/link
A manifest's children (config and layers) are the repository's _layers;
an index's children are revisions of the repository.  Prints
"manifests N  tags T  blobs B  secs S".
"""
import os
import sqlite3
import sys
import time


def link(path, digest):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "link"), "w") as f:
        f.write(digest)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, root = sys.argv[1], os.path.join(sys.argv[2], "docker", "registry", "v2")
    t0 = time.monotonic()
    db = sqlite3.connect("file:%s/barge.db?mode=ro" % src, uri=True)
    blobs = set()

    def blob(digest):
        if digest in blobs:
            return
        hexd = digest.split(":", 1)[1]
        d = os.path.join(root, "blobs", "sha256", hexd[:2], hexd)
        os.makedirs(d, exist_ok=True)
        data = os.path.join(d, "data")
        if not os.path.exists(data):
            os.link(os.path.join(src, "blobs", "sha256", hexd[:2], hexd), data)
        blobs.add(digest)

    index_types = ("application/vnd.oci.image.index.v1+json",
                   "application/vnd.docker.distribution.manifest.list.v2+json")
    nman = ntag = 0
    for repo_id, repo in db.execute("SELECT id, name FROM repositories ORDER BY id"):
        rdir = os.path.join(root, "repositories", repo)
        for digest, mt in db.execute(
                "SELECT digest, media_type FROM manifests WHERE repo_id = ?", (repo_id,)):
            blob(digest)
            hexd = digest.split(":", 1)[1]
            link(os.path.join(rdir, "_manifests", "revisions", "sha256", hexd), digest)
            nman += 1
            for (child,) in db.execute("SELECT child FROM refs WHERE parent = ?", (digest,)):
                if mt in index_types:
                    continue  # the child manifest is a row of its own
                blob(child)
                link(os.path.join(rdir, "_layers", "sha256", child.split(":", 1)[1]), child)
        for tag, digest in db.execute(
                "SELECT name, digest FROM tags WHERE repo_id = ?", (repo_id,)):
            tdir = os.path.join(rdir, "_manifests", "tags", tag)
            link(os.path.join(tdir, "current"), digest)
            link(os.path.join(tdir, "index", "sha256", digest.split(":", 1)[1]), digest)
            ntag += 1
    print("manifests %d  tags %d  blobs %d  secs %.1f"
          % (nman, ntag, len(blobs), time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
