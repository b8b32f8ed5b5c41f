#!/usr/bin/env python3
"""Host-side pixel check for screenshots the VM cases leave (the guest has no Python).

    pngcheck.py FILE [MIN_DIFFERENT]
    pngcheck.py FILE --pixel X Y R G B

Decodes an 8-bit non-interlaced PNG (greyscale, RGB, RGBA, grey+alpha) with the standard
library only and prints one line: size, number of distinct colours, and how many pixels
differ from the most common colour. Exit 0 when at least MIN_DIFFERENT pixels (default
1000) differ from that colour, i.e. the picture is not a uniform fill; 1 otherwise; 2 when
the file cannot be decoded.
"""
import struct
import sys
import zlib
from collections import Counter

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if hdr is None:
        raise ValueError("no IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in CHANNELS or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
    bpp = CHANNELS[ctype]
    stride = w * bpp
    raw = zlib.decompress(b"".join(idat))
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def pixel(w, bpp, rows, x, y):
    row = rows[y]
    return tuple(row[x * bpp:x * bpp + min(bpp, 3)])


def main():
    path = sys.argv[1]
    try:
        w, h, bpp, rows = decode(path)
    except Exception as e:  # noqa: BLE001 - any decode problem is a failed check
        print(f"{path}: cannot decode: {e}")
        return 2
    if len(sys.argv) > 2 and sys.argv[2] == "--pixel":
        # pngcheck.py FILE --pixel X Y R G B: exit 0 when that pixel is exactly R G B
        x, y, r, g, b = (int(v) for v in sys.argv[3:8])
        got = pixel(w, bpp, rows, x, y)
        print(f"{w}x{h}, pixel ({x},{y}) = {got}, want {(r, g, b)}")
        return 0 if got == (r, g, b) else 1
    need = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    counts = Counter()
    for row in rows:
        counts.update(row[i:i + bpp] for i in range(0, len(row), bpp))
    dominant, n = counts.most_common(1)[0]
    differ = w * h - n
    print(f"{w}x{h}, {len(counts)} colours, {differ} px ({100.0 * differ / (w * h):.1f}%) "
          f"differ from the dominant #{dominant.hex()}")
    return 0 if differ >= need else 1


if __name__ == "__main__":
    sys.exit(main())
