"""A map's points as they are computed: partial point sets and their PCA, while encoding runs.

``stream_map_source`` is a generator of :class:`MapProgress`. A front end draws each one: the
first after one small batch (a second or two), then ever more points, each time laid out by a PCA
of what is encoded so far; the last one holds every point. Codes of folders are cached on disk
(``codes``), so a folder already encoded under this model answers at once with one ``done`` step.

For a folder whose decoded-face cache is cold, the folder is read in a helper thread while a
small, evenly spread sample of its files is decoded and encoded here: points appear before the
whole folder is read.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import WaifuError
from ..models import FaceModel
from .codes import data_digest, describe_key, has_codes, load_codes, model_identity, save_codes
from .maps import MapCancelled, MapSource, check_cancel
from .projection.pca import pca_2d

FIRST_BATCH = 64  # the first points: small, so they appear within a second or two
BATCH = 256
REFRESH_S = 1.0  # the partial map is laid out again at most this often...
REFRESH_COST_SHARE = 0.2  # ...and so that laying it out takes at most this share of the time
READ_POLL_S = 0.25


@dataclass
class MapProgress:
    """One step of building a map: the points so far (views, not copies) and their PCA layout."""

    stage: str  # "reading" | "encoding" | "sampling" | "done"
    done: int  # points computed
    total: int
    source: MapSource | None  # the points so far (all of them when ``stage == "done"``)
    layout: np.ndarray | None  # PCA of ``source.features``; None when it was not refreshed this step
    eta_s: float | None = None
    from_cache: bool = False

    def text(self) -> str:
        """What a status line says, e.g. 'encoding 4,096 / 20,051 faces, 35 s left'."""
        noun = "samples" if self.stage == "sampling" else "faces"
        if self.stage == "done":
            cached = " (codes from the cache)" if self.from_cache else ""
            return f"{self.total:,} {noun}{cached}"
        verb = {"reading": "reading", "encoding": "encoding", "sampling": "sampling"}[self.stage]
        text = f"{verb} {self.done:,} / {self.total:,} {noun}"
        if self.eta_s is not None and self.done:
            text += f", {_duration(self.eta_s)} left"
        return text


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"


class _Batches:
    """Batch ranges to compute (a small first batch, then BATCH), the time left, and when to lay the
    partial map out again: at most every REFRESH_S and within REFRESH_COST_SHARE of the time."""

    def __init__(self, total: int, cancel: threading.Event | None) -> None:
        self.total, self.cancel = total, cancel
        self.start = time.perf_counter()
        self.next_layout_at = 0.0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        done = 0
        while done < self.total:
            check_cancel(self.cancel)
            stop = min(self.total, done + (FIRST_BATCH if done == 0 else BATCH))
            yield done, stop
            done = stop
        check_cancel(self.cancel)

    def eta(self, done: int) -> float:
        return (time.perf_counter() - self.start) / max(done, 1) * (self.total - done)

    def layout_due(self) -> bool:
        return time.perf_counter() >= self.next_layout_at

    def layout(self, features: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        layout = pca_2d(features)
        cost = time.perf_counter() - start
        self.next_layout_at = time.perf_counter() + max(REFRESH_S, cost / REFRESH_COST_SHARE)
        return layout


def stream_map_source(model: FaceModel, data: str | os.PathLike | np.ndarray, *, n: int = 5000,
                      cancel: threading.Event | None = None, use_cache: bool = True) -> Iterator[MapProgress]:
    """Points of a map as they are computed: ``data`` is a folder, a face array, or ``"prior"``.

    Folders and arrays are encoded (AE/VAE); ``"prior"`` samples seeds 0..n-1 (any family; GANs
    are laid out by image features). Setting ``cancel`` raises :class:`MapCancelled` within a batch.
    """
    if isinstance(data, str) and data == "prior":
        yield from _stream_prior(model, n, cancel)
        return
    if not model.has_encoder:
        raise WaifuError(f"a {model.family} model has no encoder, so it cannot map a folder of faces; "
                         "map samples from its prior instead")
    model_id = model_identity(model)
    if isinstance(data, np.ndarray):
        faces = data
        labels = [f"face {i}" for i in range(len(faces))]
        yield from _stream_codes(model, model_id, data_digest(faces), faces, labels, f"{len(faces):,} faces",
                                 "", cancel, use_cache)
        return
    yield from _stream_folder(model, model_id, os.path.abspath(os.fspath(data)), cancel, use_cache)


def _stream_folder(model: FaceModel, model_id: str, root: str, cancel: threading.Event | None,
                   use_cache: bool) -> Iterator[MapProgress]:
    from ..data import folder_key, load_folder, scan_folder
    from ..errors import DataError

    if not os.path.isdir(root):
        raise DataError(f"folder not found: {root}" if not os.path.exists(root) else f"not a folder: {root}")
    try:
        scanned = scan_folder(root)
    except OSError as err:
        raise DataError(f"cannot read folder {root}: {err.strerror or err}") from None
    files = scanned[0]
    reader = _FolderReader(lambda progress: load_folder(root, model.resolution, use_cache=use_cache, mmap=True,
                                                        cancel=cancel, progress=progress, scanned=scanned))
    description = f"{{}} faces of {root}"
    reader.wait(READ_POLL_S, cancel)
    cached = use_cache and has_codes(model_id, folder_key(files, model.resolution))
    if reader.result is None and not reader.failed and len(files) > FIRST_BATCH and not cached:
        # Cold folder: show an evenly spread sample while the folder is read (not when its codes are
        # cached: the whole map follows as soon as the folder's faces are mapped).
        yield from _first_sample(model, files, len(files), cancel)
    while not reader.wait(READ_POLL_S, cancel):
        yield MapProgress("reading", reader.done, len(files), None, None)
    dataset = reader.get()
    key = dataset.cache_key or folder_key(files, model.resolution)
    yield from _stream_codes(model, model_id, key, dataset.images, list(dataset.paths),
                             description.format(f"{len(dataset):,}"), root, cancel, use_cache)


def _first_sample(model: FaceModel, files: list, total: int, cancel: threading.Event | None) -> Iterator[MapProgress]:
    from ..data import ImageSkipped, decode_face

    picks = np.linspace(0, len(files) - 1, FIRST_BATCH).astype(int)
    faces, labels = [], []
    for i in picks:
        check_cancel(cancel)
        try:
            faces.append(decode_face(files[i].path, model.resolution))
        except ImageSkipped:
            continue
        labels.append(files[i].rel)
    if len(faces) < 2:
        return
    sample = np.stack(faces)
    check_cancel(cancel)
    codes = model.encode(sample)
    source = MapSource(codes, codes, sample, labels, "", f"a sample of {len(sample)} faces")
    yield MapProgress("reading", 0, total, source, pca_2d(codes))


class _FolderReader:
    """``load_folder`` in a helper thread, so the generator can yield (and sample) meanwhile."""

    def __init__(self, load) -> None:  # noqa: ANN001 - a callable taking a progress callback
        self.result = None
        self.error: BaseException | None = None
        self.failed = False
        self.done = 0
        self._thread = threading.Thread(target=self._run, args=(load,), name="map folder reader", daemon=True)
        self._thread.start()

    def _run(self, load) -> None:  # noqa: ANN001
        try:
            self.result = load(self._progress)
        except BaseException as err:  # noqa: BLE001 - handed to the generator's thread by get()
            self.error, self.failed = err, True

    def _progress(self, done: int, total: int) -> None:
        self.done = done

    def wait(self, seconds: float, cancel: threading.Event | None) -> bool:
        self._thread.join(seconds)
        if cancel is not None and cancel.is_set():
            self._thread.join()  # load_folder honours the same cancel event within ~0.25 s
            raise MapCancelled("map cancelled")
        return not self._thread.is_alive()

    def get(self):  # noqa: ANN201 - FaceDataset
        if self.error is not None:
            raise self.error
        return self.result


def _stream_codes(model: FaceModel, model_id: str, data_key: str, faces: np.ndarray, labels: list[str],
                  description: str, root: str, cancel: threading.Event | None,
                  use_cache: bool) -> Iterator[MapProgress]:
    total = len(faces)
    cache_key = describe_key(model_id, data_key)
    cached = load_codes(model_id, data_key, total, model.latent_dim) if use_cache else None
    if cached is not None:
        source = MapSource(cached, cached, faces, labels, cache_key, description, root)
        yield MapProgress("done", total, total, source, pca_2d(cached), 0.0, from_cache=True)
        return
    codes = np.empty((total, model.latent_dim), np.float32)
    batches = _Batches(total, cancel)
    for begin, done in batches:
        codes[begin:done] = model.encode(faces[begin:done])
        if done < total:
            layout = batches.layout(codes[:done]) if batches.layout_due() else None
            partial = MapSource(codes[:done], codes[:done], faces[:done], labels[:done], "", description, root)
            yield MapProgress("encoding", done, total, partial, layout, batches.eta(done))
    if use_cache:
        save_codes(model_id, data_key, codes, root)
    source = MapSource(codes, codes, faces, labels, cache_key, description, root)
    yield MapProgress("done", total, total, source, pca_2d(codes), 0.0)


def _stream_prior(model: FaceModel, n: int, cancel: threading.Event | None) -> Iterator[MapProgress]:
    from .face_features import image_features

    latents = model.seeds_to_latents(range(n))
    faces = np.empty((n, model.resolution, model.resolution, 3), np.uint8)
    labels = [f"seed {s}" for s in range(n)]
    key = describe_key(model_identity(model), f"prior:{n}")
    description = f"{n:,} samples from the model's prior"

    def features_of(count: int) -> np.ndarray:
        return latents[:count] if model.has_encoder else image_features(faces[:count])

    batches = _Batches(n, cancel)
    for begin, done in batches:
        faces[begin:done] = model.decode(latents[begin:done])
        if done == n:
            break
        if not batches.layout_due():
            yield MapProgress("sampling", done, n, None, None, batches.eta(done))
            continue
        features = features_of(done)
        partial = MapSource(latents[:done], features, faces[:done], labels[:done], "", description)
        yield MapProgress("sampling", done, n, partial, batches.layout(features), batches.eta(done))
    check_cancel(cancel)
    features = np.ascontiguousarray(features_of(n), np.float32)
    source = MapSource(latents, features, faces, labels, key, description)
    yield MapProgress("done", n, n, source, pca_2d(features), 0.0)


def build_map_source(model: FaceModel, data: str | os.PathLike | np.ndarray, *, n: int = 5000,
                     progress: Callable[[int, int], None] | None = None,
                     cancel: threading.Event | None = None, use_cache: bool = True) -> MapSource:
    """Points for a map: ``data`` is a folder (encoded; ae/vae), an image array, or ``"prior"``.

    The last step of ``stream_map_source`` (which also yields the partial maps):
    folders are encoded once per model and cached. ``progress(done, total)`` is called per
    batch; setting ``cancel`` raises :class:`MapCancelled`.
    """
    source = None
    for step in stream_map_source(model, data, n=n, cancel=cancel, use_cache=use_cache):
        if progress is not None and step.stage != "reading":
            progress(step.done, step.total)
        source = step.source
    assert source is not None  # the stream always ends with a "done" step holding every point
    return source
