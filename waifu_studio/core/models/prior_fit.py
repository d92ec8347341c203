"""Fitting an AE's or VAE's sampling prior: a Gaussian mixture chosen by held-out likelihood.

Candidates (a number of components and a covariance type, scikit-learn's ``GaussianMixture``)
are fitted to one set of codes and scored by their mean log-likelihood on codes they were not
fitted to; the best one becomes the prior (``prior.py``). For each covariance type the number of
components doubles (1, 2, 4, ...) until the held-out likelihood stops improving, so a search
costs a few fits, not a grid.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import WaifuError
from .base import FaceModel
from .objective import Objective

ProgressFn = Callable[[float, str], None]  # progress(fraction done, what is happening)

COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")
MAX_COMPONENTS = 64
# A full covariance stores D*D floats per component (1.6 MB in fp32 for a 640-d AE code): the
# search skips candidates whose stored prior would exceed this many values (4 MB in fp32), so a
# bundled file grows by at most a sixth of its networks' size (the AE's: 23.6 MB in fp16).
MAX_PRIOR_VALUES = 1_000_000
# scikit-learn's EM computes every component's Mahalanobis distances as an (N, D) x (D, D) product,
# tied covariances included: a candidate needing more than this many multiply-adds per EM step
# is skipped (for a 640-d AE's 18k codes: at most 13 full or tied components).
MAX_EM_WORK = 100e9
HELDOUT_EVERY = 10  # codes held out for the choice when no separate set is given: every 10th
SEED = 0  # k-means initialisation of every fit: the same codes give the same prior
GAUSSIAN_FIT_LIMIT = 2048  # codes behind the single Gaussian of mid-training checkpoints


class Cancelled(WaifuError):
    """The user cancelled a prior fit; the model keeps its old prior."""


@dataclass(frozen=True)
class Candidate:
    """One fitted mixture and how well it explains held-out codes (nats per code)."""

    components: int
    covariance: str
    heldout_loglik: float
    converged: bool
    seconds: float


def stored_values(components: int, covariance: str, dim: int) -> int:
    """Floats the prior keeps in a checkpoint for this candidate (weights, means, scales)."""
    scales = {"full": components * dim * dim, "tied": dim * dim}.get(covariance, components * dim)
    return components + components * dim + scales


def em_work(components: int, covariance: str, count: int, dim: int) -> float:
    """Multiply-adds of one EM step of this candidate on ``count`` codes (the distance products)."""
    return float(components) * count * dim * (dim if covariance in ("full", "tied") else 1)


def _regularisation(codes: np.ndarray) -> float:
    # Relative to the codes' own spread (they may be O(1) or O(100)), as the single Gaussian does.
    return max(1e-6, 1e-4 * float(np.var(codes, axis=0).mean()))


def _one_thread():  # noqa: ANN202 - a threadpoolctl context manager
    """EM is a long chain of small matrix products; on a busy machine waking a thread pool for each
    costs more than it saves (16-d codes: a search took 0.2 s on one thread, 7 s with the 2-thread
    OpenMP and BLAS pools, on 2 loaded cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _fit(codes: np.ndarray, components: int, covariance: str, reg: float):  # noqa: ANN202 - sklearn object
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(components, covariance_type=covariance, reg_covar=reg, max_iter=100,
                          random_state=SEED, init_params="kmeans")
    with warnings.catch_warnings(), _one_thread():
        # Not converging in 100 EM steps is recorded in the report (``converged``), not raised.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(codes)
    return gmm


def _to_prior(gmm, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """sklearn's parameters -> (weights, means, scales) as ``MixturePrior`` stores them."""
    cov = np.asarray(gmm.covariances_, np.float64)
    if gmm.covariance_type == "full":
        scales = np.linalg.cholesky(cov)
    elif gmm.covariance_type == "tied":
        scales = np.linalg.cholesky(cov)[None]
    elif gmm.covariance_type == "diag":
        scales = np.sqrt(cov)
    else:  # spherical: one variance per component
        scales = np.repeat(np.sqrt(cov)[:, None], dim, axis=1)
    return gmm.weights_, gmm.means_, scales


def choose_mixture(fit_codes: np.ndarray, heldout_codes: np.ndarray, components: str | int = "auto",
                   covariances: tuple[str, ...] = COVARIANCE_TYPES, progress: ProgressFn | None = None,
                   cancel: threading.Event | None = None) -> tuple[tuple[np.ndarray, ...], dict]:
    """Fit candidates to ``fit_codes``, keep the best on ``heldout_codes``: ((weights, means, scales), report).

    ``components`` 'auto' searches 1, 2, 4, ... per covariance type; a number fixes K and only the
    covariance type is chosen.
    """
    fit_codes = np.asarray(fit_codes, np.float64)
    heldout_codes = np.asarray(heldout_codes, np.float64)
    if fit_codes.ndim != 2 or len(fit_codes) < 2 or len(heldout_codes) < 1:
        raise WaifuError(f"a prior needs at least 2 codes to fit and 1 to check, got {len(fit_codes)} "
                         f"and {len(heldout_codes)}")
    n, dim = fit_codes.shape
    if components != "auto" and not 1 <= int(components) <= n:
        raise WaifuError(f"components must be 'auto' or between 1 and the {n} codes, not {components}")
    reg = _regularisation(fit_codes)
    counts = [int(components)] if components != "auto" else \
        [k for k in (2 ** i for i in range(7)) if k <= min(MAX_COMPONENTS, n)]
    plan = [(k, c) for c in covariances for k in counts
            if stored_values(k, c, dim) <= MAX_PRIOR_VALUES and em_work(k, c, n, dim) <= MAX_EM_WORK]
    if not plan:
        raise WaifuError(f"no mixture of {components} components fits the size limit for {dim}-d codes")
    tried: list[Candidate] = []
    best, best_gmm = None, None
    stopped: set[str] = set()
    for i, (k, cov) in enumerate(plan):
        if cancel is not None and cancel.is_set():
            raise Cancelled("prior fit cancelled")
        if cov in stopped:
            continue
        if progress is not None:
            progress(i / len(plan), f"fitting {k} {cov}-covariance Gaussian{'s' if k > 1 else ''}")
        start = time.perf_counter()
        gmm = _fit(fit_codes, k, cov, reg)
        with _one_thread():
            score = float(gmm.score(heldout_codes))
        candidate = Candidate(k, cov, score, bool(gmm.converged_), round(time.perf_counter() - start, 2))
        same_type = [c.heldout_loglik for c in tried if c.covariance == cov]
        tried.append(candidate)
        if best is None or score > best.heldout_loglik:
            best, best_gmm = candidate, gmm
        if same_type and score <= max(same_type):
            stopped.add(cov)  # more components of this type only overfit further
    if progress is not None:
        progress(1.0, f"chose {best.components} {best.covariance}-covariance Gaussian(s)")
    report = {"components": best.components, "covariance": best.covariance,
              "heldout_loglik": best.heldout_loglik, "fitted_on": n, "heldout": len(heldout_codes),
              "candidates": [asdict(c) for c in tried]}
    return _to_prior(best_gmm, dim), report


def split_heldout(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held-out): every 10th code is held out, as the data split holds out every 10th face."""
    mask = np.arange(len(codes)) % HELDOUT_EVERY == 0
    return codes[~mask], codes[mask]


def fit_prior(model: FaceModel, codes: np.ndarray, heldout_codes: np.ndarray | None = None,
              components: str | int = "auto", progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> dict:
    """Fit ``model``'s sampling prior to ``codes`` and return the report of what was chosen.

    With ``heldout_codes`` (say, the validation split's) the choice is made on them and the prior
    is the candidate fitted on ``codes``. Without, every 10th code is held out for the choice and
    the chosen kind is then refitted on all of ``codes``.
    """
    if model.prior is None:
        raise WaifuError(f"a {model.family} model samples from its own prior; only AE and VAE models take a fitted one")
    codes = np.asarray(codes, np.float64)
    if heldout_codes is not None:
        params, report = choose_mixture(codes, heldout_codes, components, progress=progress, cancel=cancel)
        report["heldout_from"] = "held-out codes"
    else:
        fit_part, heldout = split_heldout(codes)
        _, report = choose_mixture(fit_part, heldout, components, progress=progress, cancel=cancel)
        if cancel is not None and cancel.is_set():
            raise Cancelled("prior fit cancelled")
        params = _to_prior(_fit(codes, report["components"], report["covariance"], _regularisation(codes)),
                           codes.shape[1])
        report.update(fitted_on=len(codes), heldout_from=f"every {HELDOUT_EVERY}th code, then refitted on all")
    model.prior.set_mixture(*params, report=report)
    return report


def encode_faces(model: FaceModel, images: np.ndarray | torch.Tensor, limit: int | None = None,
                 progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                 batch_size: int = 256) -> np.ndarray:
    """fp32 codes (N, D) of uint8 faces (N, H, W, 3); with ``limit``, of that many evenly spread faces.

    fp32 whatever the CPU: a fitted prior must not depend on the machine that fitted it.
    """
    if limit is not None and len(images) > limit:
        index = np.linspace(0, len(images) - 1, limit).astype(np.int64)
        if isinstance(images, torch.Tensor):
            images = images[torch.from_numpy(index).to(images.device)]
        else:
            images = images[index]
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    parts = []
    for start in range(0, len(images), batch_size):
        if cancel is not None and cancel.is_set():
            raise Cancelled("prior fit cancelled")
        parts.append(model.encode(images[start:start + batch_size], batch_size, precision="fp32"))
        if progress is not None:
            progress(min(1.0, (start + batch_size) / len(images)), f"encoding {len(images)} faces")
    return np.concatenate(parts) if parts else np.zeros((0, model.latent_dim), np.float32)


class FittedPriorObjective(Objective):
    """AE and VAE training: the prior is refitted to the training codes whenever the model is saved."""

    def finish(self, images: torch.Tensor) -> bool:
        # Every training face; the kind of mixture is chosen on every 10th of them.
        fit_prior(self.model, encode_faces(self.model, images))
        return True

    def before_save(self, images: torch.Tensor) -> None:
        # Mid-run checkpoints get one Gaussian on a subset: cheap on a CPU, and usable on its own.
        self.model.prior.fit_gaussian(encode_faces(self.model, images, limit=GAUSSIAN_FIT_LIMIT))


def _stage(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    """A progress callback for one stage that reports into the [start, end] part of the whole."""
    if progress is None:
        return None
    return lambda fraction, text: progress(start + (end - start) * fraction, text)


def refit_from_folder(model: FaceModel, folder: str, split: str = "train", components: str | int = "auto",
                      progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> dict:
    """Refit ``model``'s prior to the codes of the faces in ``folder``; the networks are not touched.

    With ``split`` 'train' the kind of mixture is chosen on the validation split's codes; with
    another split, on every 10th of its own codes. Returns the report ``fit_prior`` stored.
    """
    from ..data import load_folder

    if model.prior is None:
        raise WaifuError(f"a {model.family} model samples from its own prior; only AE and VAE models take a fitted one")
    load = _stage(progress, 0.0, 0.1)
    on_read = None if load is None else lambda done, total: load(done / max(total, 1), "reading faces")
    faces = load_folder(folder, model.resolution, split=split, cancel=cancel, progress=on_read)
    codes = encode_faces(model, faces.images, progress=_stage(progress, 0.1, 0.45), cancel=cancel)
    heldout = None
    if split == "train":
        val = load_folder(folder, model.resolution, split="val", cancel=cancel)
        heldout = encode_faces(model, val.images, progress=_stage(progress, 0.45, 0.5), cancel=cancel)
    fit_prior(model, codes, heldout, components, progress=_stage(progress, 0.5, 1.0), cancel=cancel)
    model.prior.fit_report["split"] = split
    if heldout is not None:
        model.prior.fit_report["heldout_from"] = "val split"
    return dict(model.prior.fit_report)


def describe_report(report: dict) -> str:
    """One line saying what a fit chose, for the CLI and the app."""
    k, cov = report.get("components", 1), report.get("covariance", "full")
    line = f"{k} {cov}-covariance Gaussian{'s' if k != 1 else ''} fitted to {report.get('fitted_on', '?')} codes"
    if "heldout_loglik" in report:
        line += (f"; held-out log-likelihood {report['heldout_loglik']:.2f} nats per code on "
                 f"{report.get('heldout', '?')} codes ({report.get('heldout_from', 'held out')})")
    return line
