"""Image decoding: 16-bit grayscale scaled (not clipped) to 8 bits, unconvertible modes refused,
files beyond PIL's pixel limit refused with the file named."""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlrkit.data import ImageFileError, load_rgb

HEIGHT, WIDTH = 4, 1024


def _gradient16() -> np.ndarray:
    """Every 16-bit level from black to white, spread over ``(HEIGHT, WIDTH)`` pixels."""
    row = np.linspace(0, 65535, WIDTH).round().astype(np.uint16)
    return np.tile(row, (HEIGHT, 1))


def _reference_8bit(values: np.ndarray) -> np.ndarray:
    """Slow oracle: scale each pixel by 255 / 65535 and round, one pixel at a time."""
    out = np.zeros(values.shape, dtype=np.int64)
    for index, value in np.ndenumerate(values):
        out[index] = round(int(value) * 255 / 65535)
    return out


def _write_png16(path: Path, values: np.ndarray) -> None:
    Image.fromarray(values).save(path)  # uint16 -> mode I;16 -> a 16-bit grayscale PNG


def _write_tiff16_big_endian(path: Path, values: np.ndarray) -> None:
    Image.fromarray(values.astype(">u2")).save(path)  # mode I;16B, kept as such by TIFF


def _write_pgm16(path: Path, values: np.ndarray) -> None:
    header = f"P5 {values.shape[1]} {values.shape[0]} 65535\n".encode()
    path.write_bytes(header + values.astype(">u2").tobytes())  # PIL reads it as mode I


@pytest.mark.parametrize(
    ("name", "write", "mode"),
    [
        ("gradient.png", _write_png16, "I;16"),
        ("gradient.tiff", _write_tiff16_big_endian, "I;16B"),
        ("gradient.pgm", _write_pgm16, "I"),
    ],
)
def test_16bit_grayscale_is_scaled_not_clipped(
    tmp_path: Path, name: str, write: Callable[[Path, np.ndarray], None], mode: str
) -> None:
    path = tmp_path / name
    values = _gradient16()
    write(path, values)
    with Image.open(path) as image:
        assert image.mode == mode  # the decoding path this case is meant to cover
    decoded = np.asarray(load_rgb(path))
    assert decoded.shape == (HEIGHT, WIDTH, 3) and decoded.dtype == np.uint8
    assert (decoded == 255).mean() < 0.01  # clipping at 255 saturated 99.6% of the pixels
    expected = _reference_8bit(values)
    for channel in range(3):
        assert np.abs(decoded[..., channel].astype(np.int64) - expected).max() <= 1
    assert decoded[0, 0, 0] == 0 and decoded[0, -1, 0] == 255


def test_8bit_images_decode_as_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    np.testing.assert_array_equal(np.asarray(load_rgb(tmp_path / "gray.png"))[..., 1], gray)
    np.testing.assert_array_equal(np.asarray(load_rgb(tmp_path / "rgb.png")), rgb)
    with Image.open(tmp_path / "palette.png") as palette:
        expected = np.asarray(palette.convert("RGB"))
    np.testing.assert_array_equal(np.asarray(load_rgb(tmp_path / "palette.png")), expected)


def test_32bit_values_beyond_16_bits_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "depth.tiff"
    Image.fromarray(np.array([[0, 70_000]], dtype=np.int32)).save(path)  # mode I
    with pytest.raises(ImageFileError, match=r"depth\.tiff \(PIL mode I\).*0 \.\.\. 70000"):
        load_rgb(path)


def test_float_images_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "float.tiff"
    Image.fromarray(np.array([[0.0, 0.5]], dtype=np.float32)).save(path)  # mode F
    with pytest.raises(ImageFileError, match=r"float\.tiff \(PIL mode F\).*white level"):
        load_rgb(path)


def _declare_size(path: Path, width: int, height: int) -> None:
    """Rewrite a PNG's IHDR to declare ``width x height`` (pixels untouched, CRC recomputed)."""
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"  # the first chunk, right after the 8-byte signature
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def test_a_decompression_bomb_names_the_file_its_size_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("RGB", (4, 4)).save(path)
    _declare_size(path, 50_000, 50_000)  # 2.5 billion pixels in an 80-byte file
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing on the side: the error says it all
        with pytest.raises(ImageFileError) as info:
            load_rgb(path)
    message = str(info.value)
    assert str(path) in message and "2,500,000,000 pixels" in message
    assert "PIL.Image.MAX_IMAGE_PIXELS = 89,478,485" in message  # PIL's default limit
    assert "raise the limit" in message and "\n" not in message


def test_an_image_just_above_the_limit_is_refused_not_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (12, 10)).save(path)
    # 120 pixels: between the limit and twice it, where PIL itself only warns and decodes
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageFileError, match=r"big\.png declares 120 pixels.*= 100;"):
            load_rgb(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 120)  # the fix the message gives
    assert load_rgb(path).size == (12, 10)
