"""Download helpers against a local HTTP server on 127.0.0.1: checksums, resume, progress, extract.

The server serves small tarball / zip fixtures built in ``tmp_path``, honours ``Range`` requests
(or ignores them, to test the restart path) and records every request it receives.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets.voc import DATASET_YEAR_DICT

from mlrkit.data import (
    VOC_FILES,
    CocoMultiLabel,
    DownloadError,
    VOCMultiLabel,
    download_coco2014,
    download_file,
    download_voc,
    md5sum,
)


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []
    honour_range = True

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        name = self.path.rsplit("/", 1)[-1]
        self.log.append((name, self.headers.get("Range")))
        if name not in self.files:
            self.send_error(404)
            return
        data, status = self.files[name], 200
        requested = self.headers.get("Range")
        if requested and self.honour_range:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            data, status = data[start:], 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[type[_Handler]]:
    handler = type("Handler", (_Handler,), {"files": {}, "log": [], "honour_range": True})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    handler.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/mirror"
    yield handler
    httpd.shutdown()
    httpd.server_close()


def _jpeg_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 8, 3), value, dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _voc_tar(split: str, ids: list[str]) -> bytes:
    base = "VOCdevkit/VOC2007"
    members = {f"{base}/ImageSets/Main/{split}.txt": "\n".join(ids).encode()}
    for k, image_id in enumerate(ids):
        xml = f"<annotation><object><name>cat</name><difficult>{k % 2}</difficult></object>"
        members[f"{base}/Annotations/{image_id}.xml"] = (xml + "</annotation>").encode()
        members[f"{base}/JPEGImages/{image_id}.jpg"] = _jpeg_bytes(40 * k)
    return _tar(members)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_voc_table_matches_torchvision() -> None:
    """Independent oracle for the official list: torchvision's VOC table (URLs and MD5s)."""
    for key, year in (("2007", "2007"), ("2007-test", "2007"), ("2012", "2012")):
        entry = DATASET_YEAR_DICT[key]
        assert (entry["url"], entry["md5"]) in {(f.url, f.md5) for f in VOC_FILES[year]}


def test_download_voc_extracts_a_loadable_tree(server: type[_Handler], tmp_path: Path) -> None:
    trainval, test = _voc_tar("trainval", ["000001", "000002"]), _voc_tar("test", ["000003"])
    server.files = {"VOCtrainval_06-Nov-2007.tar": trainval, "VOCtest_06-Nov-2007.tar": test}
    checksums = {"VOCtrainval_06-Nov-2007.tar": _md5(trainval), "VOCtest_06-Nov-2007.tar": None}
    base = download_voc(tmp_path, "2007", base_url=server.base_url, checksums=checksums)
    assert base == tmp_path / "VOCdevkit" / "VOC2007"
    train, held_out = VOCMultiLabel(tmp_path), VOCMultiLabel(tmp_path, split="test")
    assert train.targets[:, 7].tolist() == [1.0, 1.0] and held_out.targets[0, 7] == 1.0
    assert train[1][0].shape == (3, 6, 8)
    assert [name for name, _ in server.log] == list(server.files)
    download_voc(tmp_path, "2007", base_url=server.base_url, checksums=checksums)
    assert len(server.log) == 2  # archives present and extracted: nothing fetched again


def test_download_coco2014_extracts_zips(server: type[_Handler], tmp_path: Path) -> None:
    annotations = {
        "images": [{"id": 9, "file_name": "COCO_val2014_000000000009.jpg"}],
        "annotations": [{"id": 1, "image_id": 9, "category_id": 18, "iscrowd": 1}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
    }
    server.files = {
        "train2014.zip": _zip({"train2014/COCO_train2014_000000000001.jpg": _jpeg_bytes(10)}),
        "val2014.zip": _zip({"val2014/COCO_val2014_000000000009.jpg": _jpeg_bytes(90)}),
        "annotations_trainval2014.zip": _zip(
            {"annotations/instances_val2014.json": json.dumps(annotations).encode()}
        ),
    }
    checksums = {name: _md5(data) for name, data in server.files.items()}
    root = download_coco2014(tmp_path, base_url=server.base_url, checksums=checksums)
    dataset = CocoMultiLabel(root / "val2014", root / "annotations" / "instances_val2014.json")
    assert dataset.targets.tolist() == [[0.0, 1.0]] and dataset[0][0].shape == (3, 6, 8)
    assert (root / "train2014" / "COCO_train2014_000000000001.jpg").is_file()


def test_resume_sends_range_and_completes(server: type[_Handler], tmp_path: Path) -> None:
    data = np.random.default_rng(0).bytes(100_000)
    server.files = {"blob.tar": data}
    (tmp_path / "blob.tar.part").write_bytes(data[:30_000])
    path = download_file(f"{server.base_url}/blob.tar", tmp_path / "blob.tar", md5=_md5(data))
    assert server.log == [("blob.tar", "bytes=30000-")]
    assert path.read_bytes() == data and not (tmp_path / "blob.tar.part").exists()


def test_server_ignoring_range_restarts_cleanly(server: type[_Handler], tmp_path: Path) -> None:
    data = np.random.default_rng(1).bytes(50_000)
    server.files, server.honour_range = {"blob.tar": data}, False
    (tmp_path / "blob.tar.part").write_bytes(b"stale bytes from another file")
    download_file(f"{server.base_url}/blob.tar", tmp_path / "blob.tar", md5=_md5(data))
    assert md5sum(tmp_path / "blob.tar") == _md5(data)


def test_complete_partial_file_is_accepted(server: type[_Handler], tmp_path: Path) -> None:
    data = b"x" * 1000
    server.files = {"blob.tar": data}
    (tmp_path / "blob.tar.part").write_bytes(data)  # interrupted just before the rename
    download_file(f"{server.base_url}/blob.tar", tmp_path / "blob.tar", md5=_md5(data))
    assert (tmp_path / "blob.tar").read_bytes() == data


def test_existing_file_is_kept_or_replaced_by_checksum(
    server: type[_Handler], tmp_path: Path
) -> None:
    data = b"the real archive"
    server.files = {"blob.tar": data}
    dest = tmp_path / "blob.tar"
    dest.write_bytes(data)
    download_file(f"{server.base_url}/blob.tar", dest, md5=_md5(data))
    assert server.log == []  # right checksum: no request at all
    dest.write_bytes(b"a corrupt copy")
    download_file(f"{server.base_url}/blob.tar", dest, md5=_md5(data))
    assert dest.read_bytes() == data and len(server.log) == 1


def test_checksum_mismatch_is_an_error(server: type[_Handler], tmp_path: Path) -> None:
    server.files = {"VOCtrainval_11-May-2012.tar": _tar({"a.txt": b"not the real archive"})}
    with pytest.raises(DownloadError, match="Checksum mismatch.*6cd6e144f989b92b3379bac3b3de84fd"):
        download_voc(tmp_path, "2012", base_url=server.base_url)
    archives = tmp_path / "archives"
    assert not any(archives.iterdir())  # the corrupt file is not kept under any name


def test_http_error_is_a_download_error(server: type[_Handler], tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{server.base_url}/missing.tar", tmp_path / "missing.tar")


def test_progress_bar_reports_bytes(
    server: type[_Handler], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.files = {"blob.tar": bytes(4096)}
    download_file(f"{server.base_url}/blob.tar", tmp_path / "blob.tar", chunk_size=512)
    err = capsys.readouterr().err
    assert "blob.tar" in err and "100%" in err and "4.00k" in err
    download_file(f"{server.base_url}/blob.tar", tmp_path / "quiet.tar", progress=False)
    assert capsys.readouterr().err == ""


def test_unknown_voc_year(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="2005"):
        download_voc(tmp_path, "2005")


def test_corrupt_archive_is_reported(server: type[_Handler], tmp_path: Path) -> None:
    server.files = {"val2014.zip": b"PK\x03\x04 broken zip", "train2014.zip": _zip({})}
    with pytest.raises(DownloadError, match=r"train2014\.zip|val2014\.zip"):
        download_coco2014(tmp_path, base_url=server.base_url, checksums=dict.fromkeys(server.files))
