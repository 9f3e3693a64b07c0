"""What every benchmark does with its figures: a JSON file, a Markdown table next to it, the table printed."""

from __future__ import annotations

import json
from pathlib import Path


def write(out: Path, result: dict, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
