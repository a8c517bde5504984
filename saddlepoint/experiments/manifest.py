"""``DIR/manifest.json``: one entry per item of the paper, and the schema it must satisfy.

The manifest records, per item (``fig1`` ... ``fig10``, ``table1``): the files written, every
setting used (each marked against the paper's value), the data (spec and SHA-256 of the
arrays), the numbers the paper reports for it, the seconds spent, and the package version.
:data:`SCHEMA` is a JSON-Schema (draft 2020-12 subset) written as a Python dict;
:func:`validate` checks a document against it without extra dependencies.
"""

import datetime
import math
from pathlib import Path

from .. import __version__, io
from .settings import ITEM_NAMES

__all__ = ["SCHEMA", "ENTRY_SCHEMA", "validate", "ManifestError", "load_manifest", "write_manifest"]

_SETTING = {
    "type": "object",
    "required": ["value", "paper", "scaled"],
    "properties": {"scaled": {"type": "boolean"}},
}

ENTRY_SCHEMA = {
    "type": "object",
    "required": ["files", "settings", "data", "numbers", "seconds", "version"],
    "properties": {
        "files": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "timing_files": {"type": "array", "items": {"type": "string"}},
        "settings": {"type": "object", "minProperties": 1, "additionalProperties": _SETTING},
        "data": {
            "type": "object",
            "required": ["spec", "sha256", "n_train", "n_test"],
            "properties": {
                "spec": {"type": "string"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "n_train": {"type": "integer", "minimum": 1},
                "n_test": {"type": "integer", "minimum": 0},
            },
        },
        "numbers": {"type": "object", "minProperties": 1},
        "seconds": {
            "type": "object",
            "required": ["runs", "drawing"],
            "properties": {"runs": {"type": "number", "minimum": 0}, "drawing": {"type": "number", "minimum": 0}},
        },
        "version": {"type": "string"},
    },
}

SCHEMA = {
    "type": "object",
    "required": ["saddlepoint_version", "scale", "items"],
    "properties": {
        "saddlepoint_version": {"type": "string"},
        "scale": {"enum": ["paper", "quick", "tiny"]},
        "items": {
            "type": "object",
            "propertyNames": {"enum": list(ITEM_NAMES)},
            "additionalProperties": ENTRY_SCHEMA,
        },
        "missing": {"type": "object", "additionalProperties": {"type": "string"}},
        "wall_seconds": {"type": "number", "minimum": 0},
        "invocations": {
            "type": "array",
            "items": {"type": "object", "required": ["items", "wall_seconds", "new_runs", "workers"]},
        },
    },
}


class ManifestError(ValueError):
    """A manifest does not satisfy :data:`SCHEMA`; the message gives the JSON path."""


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def _type_ok(value, kind):
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "null":
        return value is None
    return isinstance(value, _TYPES[kind])


def validate(doc, schema=SCHEMA, path="$"):
    """Check ``doc`` against ``schema`` (keywords: type, enum, required, properties,
    additionalProperties, propertyNames, minProperties, items, minItems, minimum, pattern).

    Raises
    ------
    ManifestError
        At the first violation, naming its JSON path.
    """
    import re

    kind = schema.get("type")
    if kind is not None and not _type_ok(doc, kind):
        raise ManifestError(f"{path}: expected {kind}, got {type(doc).__name__} {doc!r:.60}")
    if "enum" in schema and doc not in schema["enum"]:
        raise ManifestError(f"{path}: {doc!r} is not one of {schema['enum']}")
    if "minimum" in schema and _type_ok(doc, "number") and doc < schema["minimum"]:
        raise ManifestError(f"{path}: {doc} < {schema['minimum']}")
    if "pattern" in schema and isinstance(doc, str) and not re.search(schema["pattern"], doc):
        raise ManifestError(f"{path}: {doc!r} does not match {schema['pattern']}")
    if isinstance(doc, dict):
        for key in schema.get("required", ()):
            if key not in doc:
                raise ManifestError(f"{path}: missing key {key!r}")
        if len(doc) < schema.get("minProperties", 0):
            raise ManifestError(f"{path}: needs at least {schema['minProperties']} entries")
        names = schema.get("propertyNames")
        props = schema.get("properties", {})
        for key, value in doc.items():
            if names is not None:
                validate(key, names, f"{path}[{key!r}]")
            if key in props:
                validate(value, props[key], f"{path}.{key}")
            elif "additionalProperties" in schema:
                validate(value, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(doc, list):
        if len(doc) < schema.get("minItems", 0):
            raise ManifestError(f"{path}: needs at least {schema['minItems']} items")
        if "items" in schema:
            for i, value in enumerate(doc):
                validate(value, schema["items"], f"{path}[{i}]")
    return doc


def load_manifest(path):
    """The manifest at ``path`` (validated), or ``None`` if there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    return validate(io.load_json(path))


def write_manifest(path, scale, entries, missing=None, wall_seconds=None, invocation=None):
    """Merge ``entries`` (``{item: entry}``) into the manifest at ``path`` and write it.

    Entries of a previous run at the same scale are kept (so ``--only`` adds to a
    manifest); a previous manifest at another scale is replaced. ``invocation`` (items,
    wall seconds, runs computed, workers) is appended to ``invocations``, so the time of a
    run made in several commands (resumed, or item by item) adds up; ``wall_seconds`` is
    that sum. The document is validated before it is written (atomically).
    """
    path = Path(path)
    old = None
    if path.is_file():
        try:
            old = load_manifest(path)
        except (ManifestError, ValueError):
            old = None
    items = dict(old["items"]) if old is not None and old.get("scale") == scale else {}
    items.update(entries)
    miss = dict(old.get("missing", {})) if old is not None and old.get("scale") == scale else {}
    for name in entries:
        miss.pop(name, None)
    miss.update(missing or {})
    calls = list(old.get("invocations", [])) if old is not None and old.get("scale") == scale else []
    if invocation is not None:
        calls.append(invocation)
    doc = {
        "saddlepoint_version": __version__,
        "scale": scale,
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "items": {k: items[k] for k in ITEM_NAMES if k in items},
    }
    if miss:
        doc["missing"] = miss
    if calls:
        doc["invocations"] = calls
        doc["wall_seconds"] = float(sum(c["wall_seconds"] for c in calls))
    elif wall_seconds is not None:
        doc["wall_seconds"] = float(wall_seconds)
    doc = io.to_jsonable(doc)
    validate(doc)
    io.save_json(path, doc)
    return doc
