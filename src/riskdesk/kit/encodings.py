"""Text files in whatever encoding they were saved in, as UTF-8 bytes.

Excel on Chinese Windows saves CSV as GBK (code page 936); other tools write UTF-8 with or
without a byte order mark, or UTF-16. Reading such a file as UTF-8 "leniently" turns every
Chinese name into replacement characters while the import reports success, so the encoding is
either named by the sender or recognised here, and bytes it cannot decode are refused.

Recognition, in order: a byte order mark (UTF-8, UTF-16 LE/BE); UTF-16 without one (NUL bytes
in every other position of mostly-ASCII text); strict UTF-8; strict GB18030 (a superset of GBK
and GB2312) when the decoded text is mostly Chinese; otherwise the sender must name it.
Decoding runs over slices, so a large file is never held as a Python string.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from riskdesk.kit.errors import ValidationFailed

SLICE = 1 << 20
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Share of non-ASCII characters that must be Chinese for undeclared bytes to be taken as GB18030:
# any byte soup decodes as GB18030, but a Latin-1 or Shift-JIS file decodes to rare symbols.
_CHINESE_SHARE = 0.8


@dataclass(frozen=True)
class Decoded:
    """A file's text as UTF-8 bytes, and the encoding it was read in."""

    data: bytes
    encoding: str


def check_encoding_name(name: str) -> str:
    """The codec's canonical name, or a ValidationFailed naming the field."""
    try:
        info = codecs.lookup(name.strip())
    except (LookupError, ValueError):
        raise ValidationFailed(
            f"unknown encoding {name!r}; for example utf-8, gb18030, gbk, utf-16",
            field="encoding",
            code="unknown_encoding",
        ) from None
    if not _is_text_codec(info):
        raise ValidationFailed(
            f"{name!r} is not a text encoding", field="encoding", code="unknown_encoding"
        )
    return info.name


def _is_text_codec(info: codecs.CodecInfo) -> bool:
    # base64, zlib, rot13 and the like are codecs too, but not text encodings.
    return getattr(info, "_is_text_encoding", True)


def to_utf8(content: bytes, encoding: str | None = None) -> Decoded:
    """The content as UTF-8, decoded from ``encoding`` or from the one recognised.

    Raises ValidationFailed (field ``file``) naming the encoding and where the first byte
    that does not fit it lies.
    """
    if encoding:
        name = check_encoding_name(encoding)
        if name == "utf-8" and content.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        try:
            return Decoded(_transcode(content, name, declared=True), name)
        except ValidationFailed as exc:
            if name.startswith("utf-8") and _is_chinese_gb18030(content):
                # Chinese Excel's "CSV" is GBK: say so, not only which byte does not fit.
                raise ValidationFailed(
                    f"{exc.message}. It reads as GBK/GB18030, as Chinese Excel saves CSV "
                    "files: choose GBK/GB18030 as its encoding, or let it be recognised",
                    field="file",
                    code="gb18030_not_utf8",
                ) from None
            raise
    for bom, name in _BOMS:
        if content.startswith(bom):
            return Decoded(_transcode(content, name, declared=False), name)
    unmarked = _utf16_without_bom(content)
    if unmarked:
        return Decoded(_transcode(content, unmarked, declared=False), unmarked)
    if _is_utf8(content):
        return Decoded(content, "utf-8")
    try:
        data = _transcode(content, "gb18030", declared=True)
    except ValidationFailed:
        data = b""
    if data and _mostly_chinese(data):
        return Decoded(data, "gb18030")
    raise ValidationFailed(
        "the file is not UTF-8, UTF-16 or GB18030/GBK text; save it as UTF-8 or name its "
        "encoding (for example cp1252 or big5)",
        field="file",
        code="unknown_file_encoding",
    )


def _is_chinese_gb18030(content: bytes) -> bool:
    """Whether the bytes read as GB18030 text that is mostly Chinese."""
    try:
        data = _transcode(content, "gb18030", declared=True)
    except ValidationFailed:
        return False
    return bool(data) and _mostly_chinese(data)


def _is_utf8(content: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        for start in range(0, len(content), SLICE):
            decoder.decode(content[start : start + SLICE], final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf16_without_bom(content: bytes) -> str | None:
    sample = content[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    # ASCII text in UTF-16 has a NUL in every other byte; other text has few NULs at all.
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _transcode(content: bytes, encoding: str, *, declared: bool) -> bytes:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    parts: list[bytes] = []
    lines = 0
    for start in range(0, len(content), SLICE):
        piece = content[start : start + SLICE]
        try:
            text = decoder.decode(piece, final=start + SLICE >= len(content))
        except UnicodeDecodeError as exc:
            where = start + exc.start
            # In UTF-16 a 0x0A byte is also half of many characters: no line number there.
            wide = "16" in encoding or "32" in encoding
            number = lines + content[start:where].count(b"\n") + 1
            line = "" if wide else f" on line {number}"
            how = "the encoding given" if declared else "its byte order mark"
            raise ValidationFailed(
                f"the file cannot be read as {encoding} ({how}): byte {where}{line} "
                "does not fit; check the encoding the file was saved in",
                field="file",
                code="undecodable_file",
            ) from None
        lines += piece.count(b"\n")
        parts.append(text.encode("utf-8"))
    if not content:
        return b""
    return b"".join(parts)


def _mostly_chinese(data: bytes) -> bool:
    text = data[: 1 << 18].decode("utf-8", errors="ignore")
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide:
        return True
    chinese = sum(
        1
        for c in wide
        if "\u4e00" <= c <= "\u9fff"  # unified ideographs
        or "\u3000" <= c <= "\u303f"  # CJK punctuation
        or "\uff00" <= c <= "\uffef"  # full-width forms
        or "\u3400" <= c <= "\u4dbf"  # extension A
    )
    return chinese >= _CHINESE_SHARE * len(wide)
