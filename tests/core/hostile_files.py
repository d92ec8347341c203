"""Generators of hostile image files and checkpoints, made by the tests (never downloaded).

Each kind has a name, a maker that writes it at a path, and what the program must make of it:
``OK`` (a correct result: the face loads, the checkpoint generates) or ``REFUSED`` (a one-line
error with exit status 2, or the image skipped with a reason).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.core.image_bytes import encoded, jpeg_corrupt_scan, jpeg_short_scan, noise, png, png_chunk

OK, REFUSED = "ok", "refused"


@dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[..., None]
    expect: str
    in_folder: bool = True  # images: also part of the data-set folder the loader scans


def _bytes(data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(data() if callable(data) else data)
    return make


def _fifo(path: Path, *_: object) -> None:
    os.mkfifo(path)


def _link_to(target: str) -> Callable[..., None]:
    def make(path: Path, *_: object) -> None:
        os.symlink(target, path)
    return make


def _folder(path: Path, *_: object) -> None:
    path.mkdir()


def _sparse(size: int) -> Callable[..., None]:
    def make(path: Path, *_: object) -> None:
        with open(path, "wb") as fh:
            fh.truncate(size)  # no blocks on disk: instant, whatever the size
    return make


# ----------------------------------------------------------------------------- images

def _png_declaring(width: int, height: int) -> bytes:
    return png(width, height, 0, 8, b"\0" * 64)


def _png_idat_length_lie() -> bytes:
    good = encoded(noise(), "PNG")
    at = good.index(b"IDAT") - 4
    return good[:at] + struct.pack(">I", 2**31 - 1) + good[at + 4:]


def _png_zlib_bomb() -> bytes:
    side = 4000  # 16 MP of zeros compress to ~16 KB; under the 64 MP limit, so it must load
    raw = zlib.compress(b"\0" * ((side + 1) * side), 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", raw) + png_chunk(b"IEND", b"")


def _jpeg_sof(width: int, height: int) -> bytes:
    data = bytearray(encoded(noise(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _jpeg_app_past_end() -> bytes:
    data = encoded(noise(), "JPEG")
    return data[:2] + b"\xff\xe1\xff\xf0" + data[2:200]


def _gif_screen(width: int, height: int) -> bytes:
    data = bytearray(encoded(noise().convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    at = data.index(b"\x2c")  # image descriptor: make the frame as large too
    data[at + 5:at + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def _gif_no_frames() -> bytes:
    return encoded(noise().convert("P"), "GIF")[:13 + 768] + b"\x3b"


def _gif_lzw_garbage() -> bytes:
    data = bytearray(encoded(noise().convert("P"), "GIF"))
    at = data.index(b"\x2c") + 11
    data[at:at + 200] = np.random.default_rng(3).integers(0, 256, 200, dtype=np.uint8).tobytes()
    return bytes(data)


def _bmp_header(width: int, height: int, bits: int = 24) -> bytes:
    data = bytearray(encoded(noise(), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    data[28:30] = struct.pack("<H", bits)
    return bytes(data)


def _webp_riff_size_lie() -> bytes:
    data = bytearray(encoded(noise(), "WEBP"))
    data[4:8] = struct.pack("<I", 2**32 - 1)
    return bytes(data)


def _torch_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    return buffer.getvalue()


def _random(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _tiff() -> bytes:
    return encoded(noise(), "TIFF")


def _ico() -> bytes:
    return encoded(noise((32, 32)), "ICO")


def _two_jpegs() -> bytes:  # an MPO-like pair: the first image is the face
    return encoded(noise((64, 64)), "JPEG") + encoded(noise((64, 64), seed=1), "JPEG")


def _sixteen_bit_png() -> bytes:
    values = np.linspace(0, 65535, 24 * 24).reshape(24, 24).astype(">u2")
    return png(24, 24, 0, 16, b"".join(b"\0" + row.tobytes() for row in values))


IMAGE_KINDS: list[Kind] = [
    Kind("empty.png", _bytes(b""), REFUSED),
    Kind("one_byte.png", _bytes(b"A"), REFUSED),
    Kind("two_bytes.bmp", _bytes(b"BM"), REFUSED),
    Kind("three_bytes.jpg", _bytes(b"\xff\xd8\xff"), REFUSED),
    Kind("gif_magic_only.gif", _bytes(b"GIF89a"), REFUSED),
    Kind("riff_only.webp", _bytes(b"RIFF"), REFUSED),
    Kind("png_signature_only.png", _bytes(b"\x89PNG\r\n\x1a\n"), REFUSED),
    Kind("png_cut_in_header.png", _bytes(lambda: encoded(noise(), "PNG")[:20]), REFUSED),
    Kind("png_bad_header_crc.png", _bytes(lambda: png(16, 16, 0, 8, b"\0" * 17 * 16, header_crc=1)), REFUSED),
    Kind("png_100000_square.png", _bytes(lambda: _png_declaring(100_000, 100_000)), REFUSED),
    Kind("png_2g_wide.png", _bytes(lambda: _png_declaring(2**31 - 1, 1)), REFUSED),
    Kind("png_zero_size.png", _bytes(lambda: _png_declaring(0, 0)), REFUSED),
    Kind("png_one_pixel.png", _bytes(lambda: encoded(noise((1, 1)), "PNG")), REFUSED),
    # The IDAT length says 2 GB but the compressed pixels are all there: the face loads, as it should.
    Kind("png_idat_length_lie.png", _bytes(_png_idat_length_lie), OK),
    Kind("png_zlib_bomb_16mp.png", _bytes(_png_zlib_bomb), OK),
    Kind("png_half.png", _bytes(lambda: encoded(noise((64, 64)), "PNG")[:600]), REFUSED),
    Kind("jpeg_half_no_eoi.jpg", _bytes(lambda: encoded(noise((64, 64)), "JPEG")[:700]), REFUSED),
    Kind("jpeg_short_scan.jpg", _bytes(jpeg_short_scan), REFUSED),
    Kind("jpeg_short_scan_progressive.jpg", _bytes(lambda: jpeg_short_scan(progressive=True)), REFUSED),
    Kind("jpeg_scan_overwritten.jpg", _bytes(jpeg_corrupt_scan), REFUSED),
    Kind("jpeg_65535_square.jpg", _bytes(lambda: _jpeg_sof(65535, 65535)), REFUSED),
    Kind("jpeg_zero_height.jpg", _bytes(lambda: _jpeg_sof(24, 0)), REFUSED),
    Kind("jpeg_app_segment_past_end.jpg", _bytes(_jpeg_app_past_end), REFUSED),
    Kind("gif_65535_square.gif", _bytes(lambda: _gif_screen(65535, 65535)), REFUSED),
    Kind("gif_no_frames.gif", _bytes(_gif_no_frames), REFUSED),
    Kind("gif_lzw_garbage.gif", _bytes(_gif_lzw_garbage), REFUSED),
    Kind("gif_half.gif", _bytes(lambda: encoded(noise((64, 64)).convert("P"), "GIF")[:900]), REFUSED),
    Kind("webp_half.webp", _bytes(lambda: encoded(noise((64, 64)), "WEBP")[:200]), REFUSED),
    Kind("webp_riff_size_lie.webp", _bytes(_webp_riff_size_lie), REFUSED),
    Kind("bmp_huge.bmp", _bytes(lambda: _bmp_header(100_000, 100_000)), REFUSED),
    Kind("bmp_7_bits.bmp", _bytes(lambda: _bmp_header(24, 24, bits=7)), REFUSED),
    Kind("bmp_header_only.bmp", _bytes(lambda: encoded(noise(), "BMP")[:54]), REFUSED),
    Kind("text.jpg", _bytes(b"this is not an image at all\n" * 10), REFUSED),
    Kind("html.png", _bytes(b"<!DOCTYPE html><html><body>404</body></html>"), REFUSED),
    Kind("pdf.png", _bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"), REFUSED),
    Kind("tiff.png", _bytes(_tiff), REFUSED),
    Kind("ico.png", _bytes(_ico), REFUSED),
    Kind("pickle.png", _bytes(pickle.dumps({"x": 1})), REFUSED),
    Kind("zip.jpg", _bytes(_torch_zip), REFUSED),
    Kind("random_1k.png", _bytes(lambda: _random(1024, 0)), REFUSED),
    Kind("fifo.png", _fifo, REFUSED),
    Kind("link_to_dev_zero.png", _link_to("/dev/zero"), REFUSED),
    Kind("broken_link.png", _link_to("/nonexistent/face.png"), REFUSED),
    Kind("folder.png", _folder, REFUSED, in_folder=False),  # in a data set it is a folder, not a file
    Kind("sparse_300mb.png", _sparse(300 * 2**20), REFUSED),
    Kind("good.png", _bytes(lambda: encoded(noise((64, 64)), "PNG")), OK),
    Kind("good.jpg", _bytes(lambda: encoded(noise((64, 64)), "JPEG")), OK),
    Kind("cmyk.jpg", _bytes(lambda: encoded(noise(mode="CMYK"), "JPEG")), OK),
    Kind("progressive.jpg", _bytes(lambda: encoded(noise((64, 64)), "JPEG", progressive=True)), OK),
    Kind("sixteen_bit.png", _bytes(_sixteen_bit_png), OK),
    Kind("two_jpegs_back_to_back.jpg", _bytes(_two_jpegs), OK),
    Kind("bad_exif.jpg", _bytes(lambda: encoded(noise(), "JPEG", exif=b"Exif\0\0garbage")), OK),
    Kind("animated.gif", _bytes(lambda: encoded(noise().convert("P"), "GIF", save_all=True,
                                                append_images=[noise(seed=1).convert("P")])), OK),
    Kind("png_named.jpg", _bytes(lambda: encoded(noise((64, 64)), "PNG")), OK),
]


# ----------------------------------------------------------------------------- checkpoints

def _split(raw: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _join(header: object, data: bytes) -> bytes:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(text)) + text + data


def _edit(change: Callable[[dict, bytes], tuple[object, bytes] | None]) -> Callable[[Path, Path], None]:
    """A maker that edits the good checkpoint's header (and data) with ``change``."""
    def make(path: Path, good: Path) -> None:
        header, data = _split(good.read_bytes())
        edited = change(header, data)
        path.write_bytes(_join(*(edited if edited is not None else (header, data))))
    return make


def _meta(key: str, value: object) -> Callable[[Path, Path], None]:
    def change(header: dict, data: bytes) -> None:
        if value is _DELETE:
            del header["__metadata__"][key]
        else:
            header["__metadata__"][key] = value
    return _edit(change)


def _config(**values: object) -> Callable[[Path, Path], None]:
    def change(header: dict, data: bytes) -> None:
        config = json.loads(header["__metadata__"]["model_config"])
        config.update(values)
        header["__metadata__"]["model_config"] = json.dumps(config)
        header["__metadata__"]["family"] = str(config.get("family", "ae"))
    return _edit(change)


def _config_text(text: str) -> Callable[[Path, Path], None]:
    return _meta("model_config", text)


def _first_float(header: dict) -> str:
    return sorted(k for k, v in header.items() if k != "__metadata__" and v["dtype"] in ("F32", "F16"))[0]


def _relabel(dtype: str) -> Callable[[Path, Path], None]:
    def change(header: dict, data: bytes) -> None:
        header[_first_float(header)]["dtype"] = dtype
    return _edit(change)


def _tensor_field(field: str, value: object) -> Callable[[Path, Path], None]:
    def change(header: dict, data: bytes) -> None:
        header[_first_float(header)][field] = value
    return _edit(change)


def _reshape(header: dict, data: bytes) -> None:
    entry = next(v for k, v in sorted(header.items()) if k != "__metadata__" and len(v["shape"]) > 1)
    entry["shape"] = [int(np.prod(entry["shape"]))]  # same bytes, another shape


def _overlap(header: dict, data: bytes) -> None:
    names = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
    second = header[names[1][1]]
    size = second["data_offsets"][1] - second["data_offsets"][0]
    second["data_offsets"] = [0, size]


def _values(fill: float) -> Callable[[Path, Path], None]:
    def change(header: dict, data: bytes) -> tuple[dict, bytes]:
        begin, end = header[_first_float(header)]["data_offsets"]
        dtype = np.float32 if header[_first_float(header)]["dtype"] == "F32" else np.float16
        patched = bytearray(data)
        patched[begin:end] = np.full((end - begin) // np.dtype(dtype).itemsize, fill, dtype).tobytes()
        return header, bytes(patched)
    return _edit(change)


def _extra_tensor(header: dict, data: bytes) -> tuple[dict, bytes]:
    header["surprise.weight"] = {"dtype": "F32", "shape": [4], "data_offsets": [len(data), len(data) + 16]}
    return header, data + b"\0" * 16


def _drop_tensor(header: dict, data: bytes) -> tuple[dict, bytes]:
    name = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])
    begin = header.pop(name)["data_offsets"][0]
    return header, data[:begin]


def _raw(make_bytes: Callable[[Path], bytes]) -> Callable[[Path, Path], None]:
    def make(path: Path, good: Path) -> None:
        path.write_bytes(make_bytes(good))
    return make


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


_DELETE = object()
_HUGE_VAE = {"family": "vae", "resolution": 64, "latent_dim": 4096, "width": 1024, "extra_convs": 4}
_BIG_UNDER_CAP = {"family": "ae", "resolution": 64, "latent_dim": 512, "width": 256, "extra_convs": 4}

CHECKPOINT_KINDS: list[Kind] = [
    Kind("good", _raw(lambda good: good.read_bytes()), OK),
    Kind("good_fp16", _raw(lambda good: (good.parent / "good_fp16.bin").read_bytes()), OK),
    Kind("good_bf16", _raw(lambda good: (good.parent / "good_bf16.bin").read_bytes()), OK),
    Kind("empty", _raw(lambda good: b""), REFUSED),
    Kind("seven_bytes", _raw(lambda good: b"\x10\0\0\0\0\0\0"), REFUSED),
    Kind("header_length_zero", _raw(lambda good: struct.pack("<Q", 0) + b"{}"), REFUSED),
    Kind("header_length_max", _raw(lambda good: struct.pack("<Q", 2**64 - 1) + b"{}"), REFUSED),
    Kind("header_longer_than_file", _raw(lambda good: struct.pack("<Q", 10_000) + b"{}"), REFUSED),
    Kind("header_just_over_1mib", _raw(lambda good: struct.pack("<Q", 2**20 + 1) + b" " * (2**20 + 1)), REFUSED),
    Kind("header_not_json", _raw(lambda good: _join(b"{not json", b"")), REFUSED),
    Kind("header_a_list", _raw(lambda good: _join([1, 2, 3], b"")), REFUSED),
    Kind("header_nested_200k_deep", _raw(lambda good: _join(_deep(200_000), b"")), REFUSED),
    Kind("metadata_a_string", _edit(lambda h, d: h.__setitem__("__metadata__", "x")), REFUSED),
    Kind("metadata_a_list", _edit(lambda h, d: h.__setitem__("__metadata__", ["format"])), REFUSED),
    Kind("metadata_value_a_number", _meta("created", 5), REFUSED),
    Kind("metadata_missing", _edit(lambda h, d: h.pop("__metadata__") and None), REFUSED),
    Kind("format_missing", _meta("format", _DELETE), REFUSED),
    Kind("format_version_null", _meta("format_version", None), REFUSED),
    Kind("format_version_list", _meta("format_version", ["1"]), REFUSED),
    Kind("format_version_minus_one", _meta("format_version", "-1"), REFUSED),
    Kind("format_version_zero", _meta("format_version", "0"), REFUSED),
    Kind("format_version_future", _meta("format_version", "999"), REFUSED),
    Kind("format_version_exponent", _meta("format_version", "1e3"), REFUSED),
    Kind("family_unknown", _meta("family", "stylegan9"), REFUSED),
    Kind("family_mismatch", _meta("family", "vae"), REFUSED),
    Kind("config_not_json", _config_text("{not json"), REFUSED),
    Kind("config_a_list", _config_text("[1, 2]"), REFUSED),
    Kind("config_nested_100k_deep", _config_text("[" * 100_000 + "]" * 100_000), REFUSED),
    Kind("config_unknown_key", _config(depth=3), REFUSED),
    Kind("config_latent_nan", _config_text('{"family": "ae", "resolution": 32, "latent_dim": NaN, "width": 8}'),
         REFUSED),
    Kind("config_latent_1e400", _config_text('{"family": "ae", "resolution": 32, "latent_dim": 1e400, "width": 8}'),
         REFUSED),
    Kind("config_latent_hex_text", _config(latent_dim="0x40"), REFUSED),
    Kind("config_latent_text", _config(latent_dim="16"), REFUSED),
    Kind("config_latent_fraction", _config(latent_dim=16.5), REFUSED),
    Kind("config_resolution_text", _config(resolution="32"), REFUSED),
    Kind("config_huge_vae_small_file", _config(**_HUGE_VAE), REFUSED),
    Kind("config_big_but_under_cap", _config(**_BIG_UNDER_CAP), REFUSED),
    Kind("dtype_f32_relabelled_i32", _relabel("I32"), REFUSED),
    Kind("dtype_relabelled_bool", _relabel("BOOL"), REFUSED),
    Kind("dtype_unknown", _relabel("F8_E4M3"), REFUSED),
    Kind("shape_changed_same_bytes", _edit(_reshape), REFUSED),
    Kind("shape_negative", _tensor_field("shape", [-1, 4]), REFUSED),
    Kind("shape_2_to_the_40", _tensor_field("shape", [2**40]), REFUSED),
    Kind("offsets_overlap", _edit(_overlap), REFUSED),
    Kind("offsets_text", _tensor_field("data_offsets", ["0", "4"]), REFUSED),
    Kind("trailing_garbage", _raw(lambda good: good.read_bytes() + b"\0" * 4096), REFUSED),
    Kind("truncated_data", _raw(lambda good: good.read_bytes()[:-100]), REFUSED),
    Kind("extra_tensor", _edit(_extra_tensor), REFUSED),
    Kind("missing_tensor", _edit(_drop_tensor), REFUSED),
    Kind("nan_weights", _values(float("nan")), REFUSED),
    Kind("infinite_weights", _values(float("inf")), REFUSED),
    Kind("training_not_json", _meta("training", "{oops"), REFUSED),
    Kind("training_a_list", _meta("training", "[1, 2]"), OK),  # descriptive only: ignored
    Kind("pytorch_pickle", _raw(lambda good: pickle.dumps({"weights": [1.0]}, protocol=2)), REFUSED),
    Kind("zip_archive", _raw(lambda good: _torch_zip()), REFUSED),
    Kind("fifo", _fifo, REFUSED),
    Kind("folder", _folder, REFUSED),
    Kind("link_to_dev_zero", _link_to("/dev/zero"), REFUSED),
    Kind("sparse_2gb", _sparse(2 * 2**30), REFUSED),
    Kind("missing_file", lambda path, good: None, REFUSED),
]
