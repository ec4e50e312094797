"""The Chinese font of the PDF reports: Noto Sans SC from the PyPI package pylopdf-fonts-zh-cn.

fpdf2 parses the font it embeds on every document and subsets it when the document is written;
for the whole Noto Sans SC (65,535 glyphs) that alone takes about 1.5 s. So the report sets its
text in a *working face* cut from it once: every character of GB 2312 (the 6,763 hanzi of
everyday Chinese), Latin, punctuation and the full-width forms, without the OpenType layout
tables fpdf2 does not use. It is written under ``<data_dir>/fonts`` on first need (or by
``riskdesk serve`` in the background at start, ``pdf.prepare_in_background``) and read from
there afterwards; a document of the working
face costs about a tenth. A character outside it (a rare hanzi in a name) is drawn from the
whole face, added to that document only, so nothing is ever left out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import pylopdf_fonts_zh_cn

log = logging.getLogger(__name__)

SOURCE = Path(pylopdf_fonts_zh_cn.sans_path())
_lock = threading.Lock()
_ready: Path | None = None  # the working face this process made or found


def _ranges() -> set[int]:
    chars: set[int] = set(range(0x20, 0x7F)) | set(range(0xA0, 0x250))
    for start, end in (
        (0x2000, 0x2070),  # general punctuation: dashes, quotes, ‰, ′ ″
        (0x20A0, 0x20C0),  # currency signs
        (0x2100, 0x2200),  # letter-like symbols and arrows (№, ℃, →)
        (0x2200, 0x2300),  # mathematical operators (−, ≤, ≥)
        (0x2460, 0x2500),  # enclosed numbers
        (0x2500, 0x25A0),  # box drawing
        (0x25A0, 0x2600),  # geometric shapes (■ ▲ ●)
        (0x3000, 0x3040),  # CJK punctuation
        (0xFF00, 0xFFF0),  # full-width forms
    ):
        chars |= set(range(start, end))
    for high in range(0xA1, 0xF8):  # every character GB 2312 encodes
        for low in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return chars


@lru_cache(maxsize=1)
def working_set() -> frozenset[int]:
    """The code points the working face covers."""
    return frozenset(_ranges())


def _name() -> str:
    stat = SOURCE.stat()
    tag = hashlib.sha256(f"{SOURCE.name}:{stat.st_size}:v1".encode()).hexdigest()[:12]
    return f"NotoSansSC-Regular-working-{tag}.otf"


def _build(target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(SOURCE, recalcTimestamp=False, recalcBBoxes=False, lazy=True)
    options = subset.Options(
        layout_features=[],
        notdef_outline=True,
        name_IDs=["*"],
        name_legacy=True,
        name_languages=["*"],
        glyph_names=False,
    )
    # Layout and vertical metrics: fpdf2 shapes no text and sets none vertically.
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=working_set())
    subsetter.subset(font)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a process reading it never sees half a font.
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    try:
        font.save(temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def working_face(data_dir: Path) -> Path:
    """The working face, made under ``data_dir`` if this process has not one yet."""
    global _ready
    if _ready is not None and _ready.exists():
        return _ready
    with _lock:
        if _ready is not None and _ready.exists():
            return _ready
        target = data_dir / "fonts" / _name()
        if not target.exists():
            log.info("cutting the report font's working face into %s", target.parent)
            _build(target)
        _ready = target
        return target
