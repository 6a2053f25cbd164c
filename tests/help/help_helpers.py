"""Helpers for the help picture tests: reading PNG files."""

import struct
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Bytes per pixel of 8-bit PNG colour types: grey, RGB, palette, grey+alpha, RGBA.
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def read_png(path: Path) -> tuple[int, int]:
    """Return (width, height) of a valid 8-bit PNG file, or fail the test.

    Checks the signature, that IHDR comes first, every chunk's CRC, IEND last,
    and that the image data inflates to exactly one filter byte and one row of
    pixels per line.
    """
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name}: no PNG signature"
    chunks = []
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert len(body) == length and crc == zlib.crc32(kind + body), f"{path.name}: bad {kind}"
        chunks.append((kind, body))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", path.name
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert depth == 8 and colour in CHANNELS, f"{path.name}: depth {depth}, colour type {colour}"
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + width * CHANNELS[colour]), f"{path.name}: truncated"
    return width, height
