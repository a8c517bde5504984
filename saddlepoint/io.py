"""Saving and loading results, each with the package version and its parameters.

Formats: a JSON document for a single result (a Solution, a CLI report), a CSV table with a
JSON side-car for sweeps, and ``.npz`` arrays with a JSON side-car for simulator runs.

JSON is standard JSON: NaN is written ``null`` (older files wrote the string ``"nan"``; both
are read), infinities the strings ``"inf"``/``"-inf"``.

Resumable outputs (sweeps, studies, simulations) share three helpers, whatever runs their
jobs: :func:`output_lock` (one run per output directory at a time), :func:`check_resume`
(an output records every parameter that defines it; a rerun with other parameters, or
results without their record, are refused) and :func:`read_csv_rows` with
:func:`repair_csv` (a row torn by a kill is detected, dropped and recomputed).
"""

import contextlib
import contextvars
import csv
import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from . import __version__

__all__ = [
    "OutputLockedError",
    "ResumeMismatchError",
    "to_jsonable",
    "from_jsonable",
    "check_version",
    "check_writable",
    "output_lock",
    "output_dir",
    "locks_output",
    "LOCK_NAME",
    "check_resume",
    "param_name",
    "cli_names",
    "repair_csv",
    "metadata",
    "save_json",
    "load_json",
    "save_npz",
    "load_npz",
    "identify",
    "wrong_file",
    "check_kind",
    "append_csv_rows",
    "read_csv_rows",
    "sort_csv_rows",
    "remove_checkpoint",
]


class OutputLockedError(OSError):
    """Another run holds the lock of an output directory."""


class ResumeMismatchError(ValueError):
    """An output directory holds results of other parameters (or without their record)."""


_CLI = contextvars.ContextVar("saddlepoint_cli_names", default=False)


@contextlib.contextmanager
def cli_names():
    """Within this context (the ``saddlepoint`` command), :func:`param_name` gives CLI flags."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def param_name(name):
    """How an error message names the parameter ``name``: the Python argument from the API,
    the flag (``out`` -> ``--out``, ``resume=False`` -> ``--no-resume``) from the command."""
    if not _CLI.get():
        return name
    if name == "resume=False":
        return "--no-resume"
    return "--" + name.split("=")[0].replace("_", "-")


def to_jsonable(obj, nan=None):
    """Convert numpy arrays/scalars, dataclasses, complex numbers and non-finite floats into
    plain JSON types. Complex numbers become ``[re, im]``; NaN becomes ``nan`` (default
    ``None``, i.e. JSON ``null``), infinities the strings ``"inf"``/``"-inf"``, so the
    document stays standard JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name), nan) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, nan) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, nan) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), nan)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (complex, np.complexfloating)):
        return [to_jsonable(float(obj.real), nan), to_jsonable(float(obj.imag), nan)]
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isfinite(x):
            return x
        return nan if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


_NONFINITE = {"nan": math.nan, "NaN": math.nan, "inf": math.inf, "Infinity": math.inf,
              "-inf": -math.inf, "-Infinity": -math.inf}


def from_jsonable(obj):
    """Inverse of :func:`to_jsonable` for non-finite numbers: the strings ``"nan"``,
    ``"inf"``, ``"-inf"`` (older files) become floats; ``null`` stays ``None`` (numpy reads
    it as NaN in a float array)."""
    if isinstance(obj, dict):
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    return obj


def metadata(**params):
    """Provenance record: package version and the given parameters.

    No creation time: the same code, parameters and seed then give the same bytes (a rerun
    leaves a committed result unchanged); the file's modification time says when it was
    written. Run times, where a result records them, are fields of their own (``seconds``).
    The parameters are sorted by name, so their order does not depend on how the caller
    gathered them (``get_params()``, ``vars(args)``, keyword order)."""
    return {
        "saddlepoint_version": __version__,
        "parameters": to_jsonable(dict(sorted(params.items()))),
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


def load_json(path, what="JSON file"):
    """Read a JSON document written by :func:`save_json`.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If it is not valid JSON (the message names the file, line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such {what}: {path}")
    try:
        with open(path) as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if identify(path) is not None:  # another saddlepoint output: say which
            raise ValueError(wrong_file(path, f"a {what}")) from None
        raise ValueError(f"{path} is not a valid {what} (not JSON: {exc})") from None


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


def load_npz(path, what=".npz file"):
    """Load ``(arrays, meta)`` written by :func:`save_npz`; ``what`` names the expected file
    in errors (a directory or another saddlepoint output is named as such: :func:`wrong_file`)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{wrong_file(path, 'a ' + what)}; give the .npz file")
    if not path.is_file():
        raise FileNotFoundError(f"no such {what}: {path}")
    if path.suffix != ".npz" and identify(path) is not None:
        raise ValueError(wrong_file(path, "a " + what))
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, "contains pickled data", ...
        raise ValueError(f"{path} is not a readable {what} written by saddlepoint "
                         f"(truncated, corrupt or pickled: {type(exc).__name__}: {exc})") from None
    meta_path = path.with_suffix(".json")
    meta = load_json(meta_path, "metadata side-car") if meta_path.is_file() else {}
    return arrays, meta


# What each saddlepoint output is, and how to load it: for errors that say "this is X, load it
# with Y" when a loader is handed another kind of file.
_KINDS = {
    "solution": ("a saved Solution (JSON, from solve --save / Solution.save)",
                 "saddlepoint.theory.problem.Solution.load"),
    "dam": ("a saved DAM model (.npz with a JSON side-car, from train --out / DAM.save)",
            "saddlepoint.training.estimator.DAM.load"),
    "train_dir": ("an output directory of `saddlepoint train`",
                  "saddlepoint.training.estimator.DAM.load on its model.npz"),
    "sweep": ("a phase-diagram sweep (CSV table with a JSON side-car, from phase-diagram --out)",
              "saddlepoint.theory.phase.load_sweep on its directory"),
    "simulation": ("a saved simulation (.npz with a JSON side-car, from simulate --save)",
                   "saddlepoint.simulate.load_simulation"),
    "teacher": ("a saved Teacher (.npz with a JSON side-car, from save_teacher)",
                "saddlepoint.teacher.load_teacher"),
    "sample": ("a sampled data set with its teacher (.npz from `saddlepoint sample`)",
               "saddlepoint.teacher.load_teacher (the teacher) or "
               "saddlepoint.training.data.load_dataset('npz:FILE') (the examples)"),
}


def _kind_of_json(doc):
    if not isinstance(doc, dict):
        return None
    if {"problem", "m", "m_hat", "converged"} <= doc.keys():
        return "solution"
    params = doc.get("parameters")
    if not isinstance(params, dict):
        return None
    if params.get("estimator") == "DAM":
        return "dam"
    if {"x_values", "y_values", "problem"} <= params.keys():
        return "sweep"
    if {"problem", "method", "M"} <= params.keys():
        return "simulation"
    if {"beta_star", "m_samples"} <= params.keys():
        return "sample"
    if params.get("kind") == "Teacher":
        return "teacher"
    return None


def _read_json_quietly(path):
    try:
        if path.stat().st_size > 50_000_000:  # not a saddlepoint side-car: do not read it
            return None
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def identify(path):
    """Recognise a file or directory written by saddlepoint.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (kind, description, loader) or None
        ``kind`` is one of ``"solution"``, ``"dam"``, ``"train_dir"``, ``"sweep"``,
        ``"simulation"``, ``"teacher"``, ``"sample"``; ``description`` says what it is and ``loader`` which
        function loads it. None when ``path`` does not exist or is not recognised. Never raises.
    """
    path = Path(path)
    kind = None
    try:
        if path.is_dir():
            if (path / "model.npz").is_file():
                kind = "train_dir"
            elif (path / "phase_diagram.json").is_file():
                kind = "sweep"
        elif path.is_file():
            if path.suffix == ".json":
                kind = _kind_of_json(_read_json_quietly(path))
            elif path.suffix == ".npz":
                side = path.with_suffix(".json")
                kind = _kind_of_json(_read_json_quietly(side)) if side.is_file() else None
                if kind is None:
                    with np.load(path, allow_pickle=False) as data:
                        keys = set(data.files)
                    kind = ("dam" if {"W", "p", "pi", "classes"} <= keys else
                            "simulation" if {"seeds", "m", "Q", "p"} <= keys else
                            "sample" if {"X", "y", "memories", "class_table"} <= keys else None)
            elif path.suffix == ".csv":
                with open(path) as fh:
                    header = fh.readline().strip().split(",")
                if {"ix", "iy", "x", "y"} <= set(header):
                    kind = "sweep"
    except Exception:  # unreadable or damaged: not recognised, the loader reports it
        kind = None
    return None if kind is None else (kind, *_KINDS[kind])


def wrong_file(path, expected):
    """Message for a loader given ``path`` instead of ``expected``: says what ``path`` is
    (when :func:`identify` recognises it) and how to load it."""
    found = identify(path)
    if found is None:
        return f"{path} is not {expected}"
    _, description, loader = found
    return f"{path} is {description}, not {expected}: load it with {loader}"


def check_kind(path, kind, expected):
    """Raise ValueError (:func:`wrong_file`) if ``path`` is a recognised saddlepoint output of
    another kind than ``kind``; unrecognised paths pass (the loader reports what is wrong)."""
    found = identify(path)
    if found is not None and found[0] != kind:
        raise ValueError(wrong_file(path, expected))


def append_csv_rows(path, rows, fieldnames):
    """Append dict ``rows`` to a CSV table, writing the header if the file is new.

    Each call flushes to disk, so an interrupted sweep keeps every finished row. A torn last
    line left by a killed writer is cut off first (:func:`repair_csv`), so that new rows
    never join it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    repair_csv(path)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: to_jsonable(row.get(k), nan="nan") for k in fieldnames})
        fh.flush()
        os.fsync(fh.fileno())


def repair_csv(path):
    """Cut a torn last line (no final newline: its writer was killed mid-row) off ``path``.

    Every row is written whole with its newline last, so a line without one is exactly the
    row that was being written. Returns the number of bytes removed (0 if none)."""
    path = Path(path)
    if not path.is_file():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return 0
        # find the last newline (read backwards in blocks)
        pos, keep = size, 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            i = block.rfind(b"\n")
            if i >= 0:
                keep = pos + i + 1
                break
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


def read_csv_rows(path, fieldnames=None):
    """Read a CSV table written by :func:`append_csv_rows`; numbers come back as floats.

    Rows that are not whole are dropped (a torn last line, or a line with too few or too many
    fields), so that a resumed run recomputes them; so are all rows when the header is not
    ``fieldnames`` (if given): the table was written by another version or program.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    out = []
    with open(path, newline="") as fh:
        text = fh.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # torn last row
    reader = csv.DictReader(text.splitlines(keepends=True))
    if fieldnames is not None and text and list(reader.fieldnames or []) != list(fieldnames):
        raise ResumeMismatchError(f"{path} has columns {reader.fieldnames}, expected {list(fieldnames)}: "
                                  "it was not written by this version of this command")
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            continue  # too many / too few fields: not a whole row
        conv = {}
        for k, v in row.items():
            try:
                conv[k] = float(v)
            except (TypeError, ValueError):
                conv[k] = v
        out.append(conv)
    return out


def sort_csv_rows(path, keys):
    """Rewrite a table written by :func:`append_csv_rows` with its rows sorted by the numeric
    columns ``keys`` (first key slowest), atomically (temporary file + ``os.replace``).

    Resumable sweeps append rows in the order their chunks finish, which varies from run to
    run; sorted once finished, the same sweep gives the same bytes. Each row's text is kept
    as written (no number is reformatted). Lines that are not whole rows are dropped, and of
    two rows with the same key the later one is kept. Returns the number of rows written.
    """
    path = Path(path)
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]  # torn last row
    lines = data.splitlines(keepends=True)
    if not lines:
        return 0
    columns = next(csv.reader([lines[0].decode()]))
    missing = [k for k in keys if k not in columns]
    if missing:
        raise ValueError(f"{path} has no column(s) {missing} to sort by")
    where = [columns.index(k) for k in keys]
    rows = {}
    for line in lines[1:]:
        fields = next(csv.reader([line.decode()]), [])
        if len(fields) != len(columns):
            continue  # not a whole row
        try:
            rows[tuple(float(fields[i]) for i in where)] = line
        except ValueError:
            continue
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(lines[0] + b"".join(rows[k] for k in sorted(rows)))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(rows)


def remove_checkpoint(path):
    """Delete a checkpoint written by :func:`save_npz` (the ``.npz`` and its ``.json``
    side-car), if present. Call it once the run's result is written: a checkpoint only
    serves to resume an unfinished run. Returns True if anything was removed."""
    if path is None:
        return False
    path = Path(path)
    removed = False
    for p in (path, path.with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed = True
    return removed


def _version_tuple(text):
    parts = str(text).split("+")[0].split(".")
    try:
        return tuple(int("".join(ch for ch in p if ch.isdigit()) or "x") for p in parts[:3])
    except ValueError:
        return None


def check_version(found, what):
    """Refuse a file whose recorded package version is missing, malformed, or newer (major,
    minor) than this package: its format may hold fields this version would misread.

    Raises ValueError naming ``what`` (e.g. the file)."""
    if found is None:
        raise ValueError(f"{what}: no saddlepoint version recorded (not written by saddlepoint.save)")
    ver, mine = _version_tuple(found), _version_tuple(__version__)
    if ver is None or len(ver) < 2:
        raise ValueError(f"{what}: unreadable saddlepoint version {found!r}")
    if ver[:2] > mine[:2]:
        raise ValueError(f"{what}: written by saddlepoint {found}, newer than this version ({__version__}); "
                         "upgrade saddlepoint to read it")
    return str(found)


def check_writable(path, flag, directory=False):
    """Refuse, before any computation, an output ``path`` that cannot be written.

    ``directory=True``: ``path`` is (or will be created as) a directory; otherwise a file,
    which must not be an existing directory. The nearest existing ancestor must be a
    writable directory. Raises ValueError naming ``flag``; returns ``Path(path)``.
    """
    path = Path(path)
    if directory:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{flag} {path}: exists and is not a directory")
    elif path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; give a file name")
    probe = path if (directory and path.is_dir()) else path.parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{flag} {path}: {probe} is not a directory")
    try:  # try it (os.access says yes to root, even where nothing can be created)
        tempfile.TemporaryFile(dir=probe).close()
    except OSError:
        raise ValueError(f"{flag} {path}: cannot create files in {probe}") from None
    if not directory and path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: the file is not writable")
    return path


#: Name of the lock file inside a locked output directory (deleted when the run ends).
LOCK_NAME = ".saddlepoint.lock"


def _missing_dirs(path):
    """``path`` and those of its ancestors that do not exist yet, deepest first."""
    missing, p = [], Path(path).absolute()
    while not p.exists() and p.parent != p:
        missing.append(p)
        p = p.parent
    return missing


@contextlib.contextmanager
def output_dir(path):
    """Create the directory ``path`` (and its missing parents) for the block; on exit, remove
    the ones this call created if they are still empty.

    A run that fails before writing anything (bad data, a refused option) thus leaves no empty
    output directory behind. Only directories created here are candidates, and ``rmdir`` only
    removes an empty one: a directory that existed before, or that holds any file (this run's
    results, another run's lock), is never touched.
    """
    path = Path(path)
    created = _missing_dirs(path)
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        for d in created:  # deepest first
            try:
                d.rmdir()
            except FileNotFoundError:
                continue
            except OSError:  # not empty: something was written there
                break


class _DeletingLock:
    """An exclusive, non-blocking OS lock on ``path`` whose file is deleted on release.

    ``flock`` (POSIX) on a file created on demand. Deleting a lock file is safe only with two
    rules, kept here: the holder unlinks the file *before* unlocking it, and a run that wins
    the ``flock`` checks that the file it locked is still the one at ``path`` (a previous
    holder may have unlinked it between this run's open and its flock) and otherwise tries
    again on the new file. Then at most one run holds a lock on the file linked at ``path``.
    Without ``fcntl`` (Windows), ``filelock.FileLock``, which deletes its file on release there.
    The OS drops the lock when its holder exits, even by ``kill -9`` (the empty file then stays
    until the next run on the output takes and deletes it).
    """

    def __init__(self, path):
        self.path = Path(path)
        self._fd = self._filelock = None

    def acquire(self):
        """Take the lock; False if another process holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            from filelock import FileLock, Timeout

            self._filelock = FileLock(str(self.path), timeout=0)
            try:
                self._filelock.acquire()
            except Timeout:
                return False
            return True
        import errno

        for _ in range(1000):  # each retry means another run released the lock just now
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the directory was removed by a run that just ended
                self.path.parent.mkdir(parents=True, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
                raise
            try:
                current = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                self._fd = fd
                return True
            os.close(fd)  # locked a file its holder had already unlinked: try the new one
        raise OSError(f"{self.path}: could not take the lock (the file keeps being replaced)")

    def release(self):
        if self._filelock is not None:  # pragma: no cover - Windows
            self._filelock.release()
            return
        import fcntl

        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # while still holding it: see the class docstring
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def output_lock(out, flag="out", file=False):
    """Hold an exclusive lock on the output directory ``out`` (or, ``file=True``, the output
    file ``out``) while writing to it.

    A second run on the same output is refused at once with :class:`OutputLockedError`
    (two writers would duplicate or mix rows). The lock is an OS file lock (``flock`` on
    POSIX) on ``out/.saddlepoint.lock`` (``out.lock`` next to a file): it is released when the
    holder exits, even by ``kill -9``, so no stale lock needs clearing, and its file is deleted
    when the block ends, so no lock file is left next to the outputs. The directory (or the
    file's parent), if created here, is removed again when the block leaves it empty
    (:func:`output_dir`): a run that fails before writing leaves nothing behind.
    """
    out = Path(out)
    if file:
        where, lock_path = out.parent, out.with_name(out.name + ".lock")
    else:
        where, lock_path = out, out / LOCK_NAME
    with output_dir(where):
        lock = _DeletingLock(lock_path)
        if not lock.acquire():
            raise OutputLockedError(f"{param_name(flag)} {out}: another saddlepoint run is writing there "
                                    "(it holds the lock); wait for it to finish or choose another "
                                    + ("file" if file else "directory"))
        try:
            yield out
        finally:
            lock.release()


def locks_output(param="out"):
    """Decorator: hold :func:`output_lock` on the directory given as argument ``param``
    for the whole call of the decorated function."""
    import functools
    import inspect

    def decorate(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            with output_lock(bound.arguments[param], flag=param):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def check_resume(record_path, params, data_paths, resume, flag="out", fresh_flag="resume=False"):
    """Decide whether an output may be resumed; refuse to mix runs of other parameters.

    Parameters
    ----------
    record_path : path
        JSON record of the parameters (written by :func:`save_json` of :func:`metadata`).
    params : dict
        Every parameter that defines the output.
    data_paths : list of paths
        The result files that a resume would keep.
    resume : bool
        False: the result files are deleted and the run starts over.

    Returns
    -------
    bool
        True if earlier results are kept (their parameters match), False if the run starts
        afresh. The record of ``params`` is (re)written either way.

    Raises
    ------
    ResumeMismatchError
        If results exist without a record, or with a record of other parameters; the message
        names the parameters that differ.
    """
    record_path = Path(record_path)
    flag, fresh_flag = param_name(flag), param_name(fresh_flag)
    existing = [Path(p) for p in data_paths if Path(p).exists()]
    want = json.loads(json.dumps(to_jsonable(params)))
    if not resume:
        for p in existing:
            p.unlink()
        existing = []
    kept = False
    if existing:
        where = existing[0].parent
        if not record_path.is_file():
            raise ResumeMismatchError(
                f"{flag} {where} holds results ({existing[0].name}) but not their parameter record "
                f"({record_path.name}), so they cannot be trusted: use {fresh_flag} to start over, "
                "or another directory")
        try:
            old = load_json(record_path, "parameter record").get("parameters")
        except ValueError:
            old = None
        if old != want:
            diff = sorted(k for k in set(want) | set(old or {}) if (old or {}).get(k) != want.get(k))
            shown = ", ".join(f"{k}: {(old or {}).get(k)!r} there, {want.get(k)!r} now" for k in diff[:6])
            raise ResumeMismatchError(
                f"{flag} {where} holds results of other parameters ({shown or 'unreadable record'}): "
                f"use {fresh_flag} to overwrite them, or another directory")
        kept = True
    save_json(record_path, metadata(**params))
    return kept
