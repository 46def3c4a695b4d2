"""Download helpers for PASCAL VOC and COCO-2014 (for users with internet; nothing runs at import).

Each file is fetched to ``<name>.part`` with a ``tqdm.auto`` progress bar; an interrupted download
resumes from the partial file with an HTTP ``Range`` request (a server that ignores ranges simply
restarts it). The MD5 is verified before the file takes its final name, then the archive is
extracted into ``root`` (a marker file ``.<archive>.extracted`` makes re-runs skip finished work).

Checksums: the VOC MD5s are the ones torchvision publishes; COCO does not publish checksums, the
COCO-2014 MD5s below are the archives' S3 ETags quoted by many public download scripts.
"""

from __future__ import annotations

import hashlib
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mlrkit.data.errors import DownloadError

__all__ = [
    "COCO2014_FILES",
    "VOC_FILES",
    "RemoteFile",
    "download_coco2014",
    "download_file",
    "download_voc",
    "extract_archive",
    "md5sum",
]


@dataclass(frozen=True)
class RemoteFile:
    """One archive of an official file list: where it lives and its MD5 (None: not checked)."""

    url: str
    md5: str | None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


# The mirror and MD5s torchvision.datasets.VOCDetection uses.
_VOC = "https://thor.robots.ox.ac.uk/pascal/VOC"
VOC_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "2007": (
        RemoteFile(
            f"{_VOC}/voc2007/VOCtrainval_06-Nov-2007.tar", md5="c52e279531787c972589f7e41ab4ae64"
        ),
        RemoteFile(
            f"{_VOC}/voc2007/VOCtest_06-Nov-2007.tar", md5="b6e924de25625d8de591ea690078ad9f"
        ),
    ),
    "2012": (
        RemoteFile(
            f"{_VOC}/voc2012/VOCtrainval_11-May-2012.tar", md5="6cd6e144f989b92b3379bac3b3de84fd"
        ),
    ),
}
_COCO = "http://images.cocodataset.org"
COCO2014_FILES: tuple[RemoteFile, ...] = (
    RemoteFile(f"{_COCO}/zips/train2014.zip", "0da8c0bd3d6becc4dcb32757491aca88"),
    RemoteFile(f"{_COCO}/zips/val2014.zip", "a3d79f5ed8d289b7a7554ce06a5782b3"),
    RemoteFile(
        f"{_COCO}/annotations/annotations_trainval2014.zip", "0a379cfc70b0e71301e0f377548639bd"
    ),
)


def md5sum(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | Path,
    md5: str | None = None,
    progress: bool = True,
    chunk_size: int = 1 << 20,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` and verifying the MD5.

    Args:
        url: the file's address.
        dest: final path; an existing file with the right MD5 is kept as is (a wrong one is
            downloaded again).
        md5: expected hex MD5, or None to skip verification.
        progress: show a tqdm.auto progress bar.
        chunk_size: bytes per read.
        timeout: socket timeout in seconds.

    Returns:
        ``dest``.

    Raises:
        DownloadError: network failure (the partial file is kept: run again to resume) or
            checksum mismatch (the partial file is removed).
    """
    dest = Path(dest)
    if dest.is_file() and (md5 is None or md5sum(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    offset = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if offset and response.status != 206:
                offset = 0  # the server ignored the range: start over
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            with (
                open(partial, "ab" if offset else "wb") as f,
                tqdm(
                    total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=dest.name, disable=not progress,
                ) as bar,
            ):  # fmt: skip
                while block := response.read(chunk_size):
                    f.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as error:
        if not (error.code == 416 and offset):  # 416 with a partial file: it is already complete
            raise DownloadError(
                f"Download of {url} failed: HTTP {error.code} {error.reason}. Check the address "
                "(base_url) and run again."
            ) from error
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(
            f"Download of {url} to {partial} failed ({error}). Run again to resume from the "
            "partial file, or check the address / your connection."
        ) from error
    if md5 is not None and (actual := md5sum(partial)) != md5:
        partial.unlink()
        raise DownloadError(
            f"Checksum mismatch for {dest.name} from {url}: expected MD5 {md5}, got {actual}. The "
            "corrupt file was removed; run again, or use another mirror (base_url=...)."
        )
    partial.replace(dest)
    return dest


def extract_archive(archive: str | Path, dest: str | Path) -> Path:
    """Extract a ``.tar``/``.tar.gz``/``.zip`` archive into ``dest`` once (marker file).

    Raises:
        DownloadError: the archive is corrupt or of an unknown type.
    """
    archive, dest = Path(archive), Path(dest)
    marker = dest / f".{archive.name}.extracted"
    if marker.is_file():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                # The "data" filter refuses absolute paths and links leaving dest (Python >= 3.12).
                if hasattr(tarfile, "data_filter"):
                    t.extractall(dest, filter="data")
                else:
                    t.extractall(dest)  # noqa: S202
        else:
            raise DownloadError(
                f"{archive} is neither a tar nor a zip archive; delete it and download it again."
            )
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise DownloadError(
            f"Cannot extract {archive} ({error}); delete it and download it again."
        ) from error
    marker.touch()
    return dest


def _fetch_all(
    files: Sequence[RemoteFile],
    root: Path,
    base_url: str | None,
    checksums: Mapping[str, str | None] | None,
    progress: bool,
) -> None:
    archives = root / "archives"
    for remote in files:
        url = f"{base_url.rstrip('/')}/{remote.filename}" if base_url else remote.url
        md5 = (checksums or {}).get(remote.filename, remote.md5)
        path = download_file(url, archives / remote.filename, md5=md5, progress=progress)
        extract_archive(path, root)


def download_voc(
    root: str | Path,
    year: str = "2007",
    base_url: str | None = None,
    checksums: Mapping[str, str | None] | None = None,
    progress: bool = True,
) -> Path:
    """Download and extract PASCAL VOC into ``root/VOCdevkit/VOC<year>``.

    VOC2007 fetches trainval and test (test labels are public); VOC2012 fetches trainval (its
    test labels are hidden). Archives are kept in ``root/archives`` for resuming and re-runs.

    Args:
        root: destination folder (it will hold ``VOCdevkit``).
        year: "2007" or "2012".
        base_url: mirror holding the archives under their official names (default: the
            official server).
        checksums: overrides of the MD5 per archive name (None value: not checked).
        progress: show progress bars.

    Returns:
        ``root/VOCdevkit/VOC<year>``.
    """
    year = str(year)
    if year not in VOC_FILES:
        raise DownloadError(f"VOC year {year!r} is not available; use one of {sorted(VOC_FILES)}.")
    root = Path(root)
    _fetch_all(VOC_FILES[year], root, base_url, checksums, progress)
    return root / "VOCdevkit" / f"VOC{year}"


def download_coco2014(
    root: str | Path,
    base_url: str | None = None,
    checksums: Mapping[str, str | None] | None = None,
    progress: bool = True,
) -> Path:
    """Download and extract COCO-2014 into ``root``: ``train2014/``, ``val2014/``, ``annotations/``.

    About 19 GB of archives (train 13 GB, val 6 GB, annotations 0.25 GB), kept in
    ``root/archives``.

    Args:
        root: destination folder.
        base_url: mirror holding the three archives by name, flat (default: the official URLs).
        checksums: overrides of the MD5 per archive name (None value: not checked).
        progress: show progress bars.

    Returns:
        ``root``.
    """
    root = Path(root)
    _fetch_all(COCO2014_FILES, root, base_url, checksums, progress)
    return root
