"""Hostile files for the parser: each small on disk, each built to exhaust time or memory once read.

`scale` shrinks a bomb for tests (1.0 is the full-size bomb of issue 13, for bench/parser_bombs.py); the
small ones are read with proportionally smaller limits, so they exercise the same defence.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable


def regex_backtracking() -> bytes:
    """127 bytes: a row label followed by 36 digits (a nested-quantifier pattern tries 2^35 splits)."""
    line = "一、本年新收政府信息公开申请数量 " + "1" * 36 + "x"
    text = line + " " * max(0, 127 - len(line.encode()) - 3) + "件\n"
    return text.encode()


def html_spans(cells: int = 3000, span: int = 200) -> bytes:
    """3,000 cells with rowspan and colspan 200 (115 KB): 120 million grid positions when expanded."""
    row = "".join(f'<td rowspan="{span}" colspan="{span}">1</td>' for _ in range(cells))
    return f"<html><body><table><tr><td>本年新收</td></tr><tr>{row}</tr></table></body></html>".encode()


def _tiff_ifd(width: int, height: int, strip_offset: int, strip_size: int, next_ifd: int) -> bytes:
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 8),  # deflate
        (262, 3, 1, 1), (273, 4, 1, strip_offset), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, strip_size),
    ]
    out = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        out += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3
                                                        else struct.pack("<I", value))
    return out + struct.pack("<I", next_ifd)


def tiff_frames(frames: int = 300, pixels: int = 80_000_000) -> bytes:
    """A TIFF of `frames` grey frames of `pixels` each, all sharing one deflated strip of zeros (112 KB)."""
    side = int(pixels ** 0.5)
    inflater = zlib.compressobj(9)
    strip = b"".join(inflater.compress(b"\0" * side) for _ in range(side)) + inflater.flush()
    header = 8
    strip_offset = header
    first_ifd = strip_offset + len(strip) + (len(strip) % 2)
    ifd_size = 2 + 9 * 12 + 4
    body = bytearray(b"II*\0" + struct.pack("<I", first_ifd))
    body += strip + b"\0" * (len(strip) % 2)
    for index in range(frames):
        at = first_ifd + index * ifd_size
        following = at + ifd_size if index + 1 < frames else 0
        body += _tiff_ifd(side, side, strip_offset, len(strip), following)
    return bytes(body)


def _docx(document_xml: bytes | Callable[[zipfile.ZipFile], None]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml",
                         '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                         'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                         'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                         '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                         'officedocument.wordprocessingml.document.main+xml"/></Types>')
        archive.writestr("_rels/.rels",
                         '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                         'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                         'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
                         '</Relationships>')
        if callable(document_xml):
            document_xml(archive)
        else:
            archive.writestr("word/document.xml", document_xml)
    return out.getvalue()


_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_huge_xml(megabytes: int = 190) -> bytes:
    """A DOCX whose document.xml inflates to `megabytes` MB at a ratio (~100) that passes a zip-bomb check."""
    def write(archive: zipfile.ZipFile) -> None:
        with archive.open("word/document.xml", "w", force_zip64=True) as handle:
            handle.write(f'<?xml version="1.0"?><w:document {_W}><w:body>'.encode())
            paragraphs: list[bytes] = []
            seed = 12345
            while sum(map(len, paragraphs)) < 1 << 20:  # 1 MB of paragraphs with a little noise
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                paragraphs.append(f"<w:p><w:r><w:t>本年新收{seed % 9973}</w:t></w:r></w:p>".encode())
            for index in range(megabytes):  # repeated, each time starting elsewhere
                at = index * 997 % len(paragraphs)
                handle.write(b"".join(paragraphs[at:]) + b"".join(paragraphs[:at]))
            handle.write(b"</w:body></w:document>")
    return _docx(write)


def docx_grid_span(span: int = 50_000_000) -> bytes:
    """A DOCX with one table cell that spans `span` grid columns."""
    return _docx((f'<?xml version="1.0"?><w:document {_W}><w:body><w:tbl><w:tr><w:tc><w:tcPr>'
                  f'<w:gridSpan w:val="{span}"/></w:tcPr><w:p><w:r><w:t>本年新收</w:t></w:r></w:p></w:tc></w:tr>'
                  '</w:tbl></w:body></w:document>').encode())


def pdf_flate_stream(megabytes: int = 1024) -> bytes:
    """A one-page PDF whose content stream inflates to `megabytes` MB of zeros (about 1 MB on disk)."""
    deflater = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    stream = b"".join(deflater.compress(chunk) for _ in range(megabytes)) + deflater.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def pdf_giant_page(height: int = 14_400) -> bytes:
    """A text-less (so: scanned) PDF page 200 points wide and `height` tall: 440 million pixels for OCR."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 " + str(height).encode() + b"] /Resources << >> >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def spaces(megabytes: int = 300) -> bytes:
    return b" " * (megabytes << 20)
