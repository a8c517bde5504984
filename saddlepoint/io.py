"""Saving and loading results, each with the package version and its parameters.

Formats: a JSON document for a single result (a Solution, a CLI report), a CSV table with a
JSON side-car for sweeps, and ``.npz`` arrays with a JSON side-car for simulator runs.
"""

import csv
import dataclasses
import datetime
import json
import math
import os
from pathlib import Path

import numpy as np

from . import __version__

__all__ = [
    "to_jsonable",
    "metadata",
    "save_json",
    "load_json",
    "save_npz",
    "load_npz",
    "append_csv_rows",
    "read_csv_rows",
]


def to_jsonable(obj):
    """Convert numpy arrays/scalars, dataclasses, complex numbers and non-finite floats into
    plain JSON types. Complex numbers become ``[re, im]``; NaN/inf become strings so the
    document stays strict JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (complex, np.complexfloating)):
        return [to_jsonable(float(obj.real)), to_jsonable(float(obj.imag))]
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def metadata(**params):
    """Provenance record: package version, UTC time and the given parameters."""
    return {
        "saddlepoint_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": to_jsonable(params),
    }


def _atomic_write_text(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_json(path, obj):
    """Write ``obj`` (after :func:`to_jsonable`) to ``path`` atomically."""
    _atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def load_json(path):
    """Read a JSON document written by :func:`save_json`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such JSON file: {path}")
    with open(path) as fh:
        return json.load(fh)


def save_npz(path, arrays, meta):
    """Save ``arrays`` (a dict of arrays) to ``path`` (.npz) and ``meta`` to ``path``.json."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)
    save_json(path.with_suffix(".json"), meta)
    return path


def load_npz(path):
    """Load ``(arrays, meta)`` written by :func:`save_npz`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such .npz file: {path}")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta_path = path.with_suffix(".json")
    meta = load_json(meta_path) if meta_path.is_file() else {}
    return arrays, meta


def append_csv_rows(path, rows, fieldnames):
    """Append dict ``rows`` to a CSV table, writing the header if the file is new.

    Each call flushes to disk, so an interrupted sweep keeps every finished row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: to_jsonable(row.get(k)) for k in fieldnames})
        fh.flush()
        os.fsync(fh.fileno())


def read_csv_rows(path):
    """Read a CSV table written by :func:`append_csv_rows`; numbers come back as floats."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    out = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            conv = {}
            for k, v in row.items():
                try:
                    conv[k] = float(v)
                except (TypeError, ValueError):
                    conv[k] = v
            out.append(conv)
    return out
