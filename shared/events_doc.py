"""Write docs/events.md from the registered payload models: `python -m shared.events_doc`.

A contract test checks the committed file equals what this prints, so the catalogue cannot drift
from the code.
"""

from __future__ import annotations

import sys
from typing import get_origin

import shared.events as events

HEADER = """# Event catalogue

Generated from `shared/events.py` by `python -m shared.events_doc > docs/events.md`; a contract test
keeps it equal to the code. Envelope: `event_id` (UUID), `type`, `version`, `occurred_at` (UTC),
`producer`, `key`, `payload`. Topic: `<producer>.events`. Key: the person's `person_key` (a keyed HMAC
of the resident ID), or `catalog` for Catalog events, or the class id for class-level events.
Amounts are integer fen. A payload change that breaks readers is a new version.
"""


def _type_name(annotation: object) -> str:
    text = str(annotation) if get_origin(annotation) else getattr(annotation, "__name__", str(annotation))
    return text.replace("typing.", "").replace("datetime.", "").replace("uuid.", "")


def render() -> str:
    out = [HEADER]
    for (type_, version), model in sorted(events.PAYLOADS.items()):
        doc = " ".join((model.__doc__ or "").split())
        out.append(f"\n## `{type_}` v{version}\n")
        if doc:
            out.append(f"{doc}\n")
        out.append("\n| field | type | required | meaning |\n|---|---|---|---|")
        for name, field in model.model_fields.items():
            required = "yes" if field.is_required() else "no"
            out.append(f"| `{name}` | `{_type_name(field.annotation)}` | {required} | {field.description or ''} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
