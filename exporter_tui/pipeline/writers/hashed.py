"""An output file whose sha256 is taken as it is written.

The manifest names each file's sha256. Reading a big file back to hash it costs as long as
hashing it (868 MB: 0.6 s on the 2-core machine), on the run's one busy core. Here the
bytes are hashed as they are written, on a thread of their own; hashlib lets go of the GIL
while it hashes, so on a second core the digest costs the writer next to nothing.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from pathlib import Path

_QUEUED = 4  # writes not hashed yet: the writer waits beyond that, so memory stays bounded


class HashedFile:
    """`with HashedFile(path) as out: out.write(data)`; `out.sha256` once the block ended
    without an error. Only whole `bytes` are written (they cannot change while queued)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115  # closed by __exit__
        self._hash = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(_QUEUED)
        self._thread = threading.Thread(target=self._hash_all, name="sha256", daemon=True)
        self._thread.start()
        self._digest: str | None = None

    def __enter__(self) -> HashedFile:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        self._file.close()
        if kind is None:
            self._digest = self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._queue.put(data)

    @property
    def sha256(self) -> str:
        if self._digest is None:
            raise RuntimeError("the file is not whole yet")
        return self._digest

    def _hash_all(self) -> None:
        while (data := self._queue.get()) is not None:
            self._hash.update(data)
