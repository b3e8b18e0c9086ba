"""Where export files go and how they appear: whole or not at all.

Every file is written under a hidden temporary name in its final folder, flushed to disk and
renamed. The manifest (request, run, window, zone, rows, sha256, app version) is renamed into
place just before its data file, so a data file under a final name always has its manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
# NAME.EXT has its manifest (JSON) at NAME.EXT.manifest, so `*.EXT` matches data files only.
# Files of earlier versions have NAME.EXT.manifest.json; recovery, collisions and retention read both.
MANIFEST_SUFFIX = ".manifest"
LEGACY_MANIFEST_SUFFIX = ".manifest.json"


def safe_component(name: str, fallback: str = "export", limit: int = 80) -> str:
    """A string made safe as one file name component: no separators, control characters,
    leading dots, `..`, or device names. Labels and target names pass through this."""
    text = unicodedata.normalize("NFC", name)
    text = _UNSAFE.sub("_", text).replace("..", "_").strip(" .")
    text = text[:limit].strip(" .")
    if not text or text.split(".")[0].lower() in _RESERVED:
        text = f"{fallback}_{text}" if text else fallback
    return text


def window_stamp(start: float) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%SZ")


def request_dir(exports_dir: Path, request_id: str, dir_mode: int = 0o700) -> Path:
    """exports/<request-id>/, made with exactly `dir_mode` (mkdir alone would apply the umask)."""
    folder = exports_dir / safe_component(request_id)
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True, mode=dir_mode)
        os.chmod(folder, dir_mode)
    return folder


def final_path(folder: Path, name: str, start: float, extension: str) -> Path:
    """`<name>_<window start>.<ext>`, with -2, -3... when an earlier run already has that name."""
    stem = f"{safe_component(name)}_{window_stamp(start)}"
    candidate = folder / f"{stem}.{extension}"
    n = 2
    while candidate.exists() or any(m.exists() for m in manifest_paths(candidate)):
        candidate = folder / f"{stem}-{n}.{extension}"
        n += 1
    return candidate


def manifest_path(data: Path) -> Path:
    return data.with_name(data.name + MANIFEST_SUFFIX)


def manifest_paths(data: Path) -> tuple[Path, Path]:
    """Where a data file's manifest may be: today's name, then the name of earlier versions."""
    return manifest_path(data), data.with_name(data.name + LEGACY_MANIFEST_SUFFIX)


def manifest_data(path: Path) -> Path | None:
    """The data file a manifest (of either name) belongs to; None for any other file."""
    for suffix in (LEGACY_MANIFEST_SUFFIX, MANIFEST_SUFFIX):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return None


def temp_path(final: Path, run_id: str) -> Path:
    return final.with_name(f".{final.name}.tmp-{run_id}")


def remove_partials(folder: Path, run_id: str) -> list[Path]:
    """Delete what a run that did not finish left behind (after a failure or a crash): its
    temporary files and folders (`.NAME.tmp-RUN`, `.NAME.tmp-RUN.scratch`...), and files it
    published under final names but never recorded (a crash between the rename and the
    database write), found by the run id in their manifests. Call it only for a run that
    is not done."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    tag = f".tmp-{run_id}"
    for p in folder.iterdir():
        if p.name.startswith(".") and (p.name.endswith(tag) or f"{tag}." in p.name):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
        elif (data := manifest_data(p)) is not None and _manifest_run(p) == run_id:
            for q in (data, p):  # the data file first: a data file never stays without its manifest
                if q.exists():
                    q.unlink()
                    removed.append(q)
    return removed


def _manifest_run(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("run") if isinstance(data, dict) else None


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def publish(temp: Path, final: Path, manifest: dict, run_id: str, file_mode: int = 0o600, digest: str | None = None) -> str:
    """Move a whole temporary data file to its final name, its manifest first. Returns the
    sha256: `digest` when the writer hashed the file as it wrote it, else the file is read."""
    fsync_file(temp)
    os.chmod(temp, file_mode)
    digest = digest or sha256_of(temp)
    body = json.dumps({**manifest, "file": final.name, "sha256": digest, "bytes": temp.stat().st_size}, indent=2, sort_keys=True)
    mtemp = temp_path(manifest_path(final), run_id)
    create_private(mtemp, file_mode)
    with open(mtemp, "w", encoding="utf-8") as f:
        f.write(body + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(mtemp, manifest_path(final))
    os.replace(temp, final)
    fsync_dir(final.parent)
    return digest


def create_private(path: Path, file_mode: int) -> None:
    """Create an empty file with exactly `file_mode` (whatever the umask), so what is written
    to it is never readable by others, not even for a moment."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode)
    try:
        os.fchmod(fd, file_mode)
    finally:
        os.close(fd)


@contextmanager
def temporary(final: Path, run_id: str, file_mode: int = 0o600) -> Iterator[Path]:
    """A temporary file beside `final`, made with `file_mode` before its first byte; removed if the block fails."""
    temp = temp_path(final, run_id)
    try:
        create_private(temp, file_mode)
        yield temp
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# A fixed timestamp for zip entries, so the same data gives the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_zip(entries: Sequence[tuple[str, Path]], dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for arcname, path in entries:
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            with open(path, "rb") as src, z.open(info, "w") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)


def unique_names(names: Sequence[str]) -> list[str]:
    """Make entry names unique inside a zip: a second `x.csv` becomes `x-2.csv`."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        key = n.lower()
        if key in seen:
            seen[key] += 1
            stem, dot, ext = n.rpartition(".")
            n = f"{stem}-{seen[key]}.{ext}" if dot else f"{n}-{seen[key]}"
        else:
            seen[key] = 1
        out.append(n)
    return out
