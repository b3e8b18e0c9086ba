"""Where export files go and how they appear: whole or not at all.

Every file is written under a hidden temporary name in its final folder, flushed to disk and
renamed. The manifest (request, run, attempt, window, zone, rows, sha256, app version) is
renamed into place just before its data file, so a data file under a final name always has its
manifest. Neither rename replaces a file: a name taken in the meantime (another run of the
request, or an attempt of the same run that stalled and woke up after it was taken over) moves
the file on to the next free name.

Temporary names carry the run and the attempt (`.NAME.tmp-RUN.N`), so an attempt that fails
removes its own leftovers and nothing of another attempt's; recovery removes every attempt's.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
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
    while _taken(candidate) or any(_taken(m) for m in manifest_paths(candidate)):
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


def _taken(path: Path) -> bool:
    return os.path.lexists(path)  # a dangling link holds a name too


def attempt_tag(run_id: str, attempt: int | None) -> str:
    """What marks an attempt's temporary files: `.tmp-RUN.N`; without an attempt, `.tmp-RUN`
    marks every attempt's (and those of versions that did not name the attempt)."""
    return f".tmp-{run_id}" if attempt is None else f".tmp-{run_id}.{attempt}"


def temp_path(final: Path, run_id: str, attempt: int) -> Path:
    return final.with_name(f".{final.name}{attempt_tag(run_id, attempt)}")


def remove_partials(folder: Path, run_id: str, attempt: int | None = None) -> list[Path]:
    """Delete what an attempt of a run that did not finish left behind (after a failure or a
    crash): its temporary files and folders (`.NAME.tmp-RUN.N`, `.NAME.tmp-RUN.N.scratch`...),
    and files it published under final names but never recorded (a crash between the rename and
    the database write), found by the run and attempt in their manifests. `attempt` None: every
    attempt's, as recovery does for a run that is not done; an attempt that fails removes only
    its own, since the run may be another attempt's by then (one that took it over)."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    tag = attempt_tag(run_id, attempt)
    for p in folder.iterdir():
        if p.name.startswith(".") and (p.name.endswith(tag) or f"{tag}." in p.name):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
        elif (data := manifest_data(p)) is not None and _manifest_owner(p, run_id, attempt):
            for q in (data, p):  # the data file first: a data file never stays without its manifest
                if q.exists():
                    q.unlink()
                    removed.append(q)
    return removed


def _manifest_owner(path: Path, run_id: str, attempt: int | None) -> bool:
    """Whether the manifest names this run (and this attempt, when one is given)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("run") != run_id:
        return False
    return attempt is None or data.get("attempt") == attempt


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


_NAME_TRIES = 100  # names tried before publishing gives up (each taken one moves the file on to the next)


def publish(
    temp: Path, free_name: Callable[[], Path], manifest: dict, file_mode: int = 0o600, digest: str | None = None
) -> tuple[Path, str]:
    """Move a whole temporary data file to the name `free_name()` gives (the first free one
    now), its manifest first; a name taken before the rename moves it on to the next. Returns
    the final path and the sha256: `digest` when the writer hashed the file as it wrote it,
    else the file is read."""
    fsync_file(temp)
    os.chmod(temp, file_mode)
    digest = digest or sha256_of(temp)
    size = temp.stat().st_size
    mtemp = temp.with_name(temp.name + ".manifest.part")
    for _ in range(_NAME_TRIES):
        final = free_name()
        body = json.dumps({**manifest, "file": final.name, "sha256": digest, "bytes": size}, indent=2, sort_keys=True)
        create_private(mtemp, file_mode)
        with open(mtemp, "w", encoding="utf-8") as f:
            f.write(body + "\n")
            f.flush()
            os.fsync(f.fileno())
        if not _rename_new(mtemp, manifest_path(final)):
            mtemp.unlink()
            continue
        if _rename_new(temp, final):
            fsync_dir(final.parent)
            return final, digest
        manifest_path(final).unlink()  # a data file of someone else's holds the name: ours goes on to the next
    raise OSError(errno.EEXIST, f"no free name for the export after {_NAME_TRIES} tries", str(temp.parent))


def _rename_new(src: Path, dest: Path) -> bool:
    """Rename `src` to `dest` only if no file has that name (atomically, by a hard link);
    False, and `src` left as it is, when one has."""
    try:
        os.link(src, dest)
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A file system without hard links (FAT, some network shares): look, then rename.
        if _taken(dest):
            return False
        os.replace(src, dest)
        return True
    os.unlink(src)
    return True


def create_private(path: Path, file_mode: int) -> None:
    """Create an empty file with exactly `file_mode` (whatever the umask), so what is written
    to it is never readable by others, not even for a moment."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode)
    try:
        os.fchmod(fd, file_mode)
    finally:
        os.close(fd)


@contextmanager
def temporary(final: Path, run_id: str, attempt: int, file_mode: int = 0o600) -> Iterator[Path]:
    """A temporary file beside `final`, made with `file_mode` before its first byte; removed if the block fails."""
    temp = temp_path(final, run_id, attempt)
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
