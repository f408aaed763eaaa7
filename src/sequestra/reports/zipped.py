"""Office files (XLSX) written byte for byte the same: every zip entry and the document's
modified time set to the report's moment."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from typing import Final

_MODIFIED: Final = re.compile(rb"<dcterms:modified([^>]*)>[^<]*</dcterms:modified>")


def fixed_zip(data: bytes, moment: datetime) -> bytes:
    """The zip again, every entry dated `moment`, and the core properties' modified time."""
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    date_time = (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, 0)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(
                    lambda m: (
                        b"<dcterms:modified" + m.group(1) + b">" + stamp + b"</dcterms:modified>"
                    ),
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, content, compresslevel=6)
    return out.getvalue()
