"""Generative classifiers side by side: accuracy, likelihood and sample realism, one run.

    python benchmarks/bench_generative.py [--datasets iris wine ...] [--quick] [--json PATH]
        [--candidate module_or_path.py:ClassName] [--candidate-params '{"key": value}']
        [--temperatures 0.95 1.0] [--seeds N] [--dequantize | --no-dequantize]

Datasets: scikit-learn's iris, wine, breast_cancer, digits, and two 2-D generators,
``moons`` = make_moons(n_samples=1000, noise=0.1, random_state=0) and ``blobs`` =
make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=1.0, random_state=0)
(3 overlapping classes; LogisticRegression 0.90, so the classes are not trivially
separated).

Protocol (the same for every model):
- 75/25 stratified split, ``random_state=0``; a StandardScaler fitted on the training part
  is applied to every model's inputs; the models are fitted and sampled in those
  standardised units.
- The flows' early-stopping slice is ``train_test_split(X_train, y_train,
  test_size=--validation-fraction, stratify=y_train, random_state=0)`` (a candidate that does
  its own early stopping is expected to use the same call; the numpy prototype does). The
  per-class Gaussian mixture picks its configuration on that slice, then refits on the whole
  training part.
- ``--seeds N`` fits zuko and the candidate with seeds 0 .. N-1 (the candidate through its
  ``random_state``, which is 0 by default) and reports the mean of every figure; the JSON
  also holds their [min, max] (``spread``) and every seed's row (``per_seed``). On the small
  test sets one seed moves the two-sample test by about 0.03 and ll/d by up to 0.05.

Discrete data (integer-valued, as digits' pixels 0..16): detected when every training value
is an integer, forced with ``--dequantize``, disabled with ``--no-dequantize`` (then the
protocol above applies as it is). The comparison then follows the usual protocol for
discrete data, uniform dequantisation ``x + u``, u ~ U[0, 1) per value, the same for every
model; the densities are densities of the dequantised values in the data's units:
- one fixed draw of u (seed 0) gives ``Xtr_d = Xtr + u`` and ``Xte_d = Xte + u'``. The
  StandardScaler is fitted on ``Xtr_d``. ``Xte_d`` is what every model's log-likelihood is
  measured on and the real side of the two-sample test (generated samples are continuous:
  against the integers themselves any sample would be told apart).
- the candidate receives the raw integer training data and is expected to dequantise it
  itself (revcore.InvertibleClassifier does, ``dequantize="auto"``; with ``--dequantize``
  it is passed ``dequantize=True`` unless --candidate-params say otherwise); it predicts the
  raw integer test rows, is scored on ``Xte_d`` and generates in the data's units, without
  the StandardScaler.
- zuko NSF is fitted on the standardised data with fresh noise on every minibatch
  (``scaler(x + u)``, the scaler above) and one fixed draw on its validation slice; the GMM
  (and LR) on ``scaler(Xtr_d)``. Both predict the test rows at their cells' centres
  ``x + 1/2`` (where the candidate reads integers too), their log p is brought to the
  data's units by subtracting sum(log scale), and their samples are un-standardised.
- the judge is LogisticRegression on ``scaler(Xtr_d)``; it reads every model's samples (in
  the data's units) after the same standardisation, and ``judge real`` is its accuracy on
  ``Xte_d``. ``range`` is measured in the data's units against [min, max + 1] of the
  training data per feature, widened by 10% of that span on each side.

Models:
- ``LR``: LogisticRegression(max_iter=5000) on the standardised data. It is also the *judge*:
  it reads generated samples, and its accuracy on the real test set is the reference for how
  often real data is read "as requested".
- ``GMM``: one sklearn GaussianMixture per class plus the class frequencies; Bayes' rule for
  prediction; log p(x) = logsumexp_y [log p(y) + log p(x | y)]. Number of components and
  covariance type (and regularisation) chosen on the validation slice from a small grid.
- ``zuko NSF``: ``zuko.flows.NSF(features=d, context=n_classes)`` (defaults otherwise: 3
  transforms, 8 bins, hidden (64, 64)), one-hot class as context, maximum likelihood with
  Adam (lr 1e-3, batch 128), early stopping on the validation slice (patience and maximum
  epochs as below, best state restored); Bayes' rule with the class frequencies; sampling
  with ``flow(onehot).sample()``. Skipped with a message when zuko/torch are not installed.
- the candidate: any object with ``fit(X, y)``, ``predict(X)``, ``score_samples(X)`` (log p(x))
  and ``generate(labels, temperature=..., random_state=...)``; by default
  ``revcore.InvertibleClassifier()``, or ``--candidate path.py:Class`` with
  ``--candidate-params`` (JSON keyword arguments). Missing methods are reported as n/a.
  Its samples are measured at each ``--temperatures`` value (one row each).

Metrics (columns):
- ``acc``: test accuracy.
- ``ll/d``: mean test log-likelihood per dimension, in nats, in the ORIGINAL data units: the
  models' log p in standardised units minus sum(log scale) of the StandardScaler, divided by
  d. (The offset is the same for every model, so differences are those of the standardised
  units.) For a generative classifier this is log p(x) = logsumexp_y log p(x, y). On
  discrete data: the log density of ``Xte_d`` in the data's units divided by d, i.e. minus
  the usual dequantised bits per dimension times log 2 (0 would be a model that puts all
  its mass on the right integers).
- ``judge``: fraction of generated samples that the judge reads as the requested class;
  ``judge real`` (LR row) is the judge's accuracy on the real test set. One sample is
  generated per test point with the test point's label (labels matched), so the generated
  set has the test set's class counts.
- ``range``: fraction of generated values inside [min - 10% span, max + 10% span] of the
  training data, per feature.
- ``2st``: two-sample test, the 5-fold stratified cross-validated accuracy of
  HistGradientBoostingClassifier(random_state=0) separating generated samples from the real
  test samples (equal numbers, labels matched; the label is appended as a feature, so the
  joint (x, y) is tested), averaged over --two-sample-repeats generated sets. 0.5 means
  indistinguishable.
- ``fit s``: wall-clock fit time at one thread (numpy's BLAS, OpenMP and torch limited to one
  thread). ``pred s``: predict on the test set. ``gen s``: generating 1000 samples
  (classes in turn), for every generative model (zuko included: its NSF inverts its
  autoregressive transforms one feature at a time).

Bars checked in the summary (per dataset, for the candidate's row at the temperature given by
--bar-temperature): accuracy >= LR - 0.02 (>= 0.97 on moons); log-likelihood per dimension
>= zuko's - 0.05 (not on digits); judge >= LR on real - 0.05; range >= 0.99; two-sample <=
zuko's + 0.05; fit time <= zuko's. Digits (dequantised): accuracy >= 0.97, judge >= 0.95,
range >= 0.95, ll/d >= zuko's, two-sample <= zuko's + 0.05, fit time <= zuko's / 2,
generation time (1000 samples) <= zuko's / 10.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "REVCORE_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import copy  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import ClassVar  # noqa: E402

import numpy as np  # noqa: E402
from scipy.special import logsumexp  # noqa: E402
from sklearn import datasets as skd  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

DATASETS = ["iris", "wine", "breast_cancer", "digits", "moons", "blobs"]
SEED = 0


# ----------------------------------------------------------------------------- data


def load(name: str):
    if name == "iris":
        return skd.load_iris(return_X_y=True)
    if name == "wine":
        return skd.load_wine(return_X_y=True)
    if name == "breast_cancer":
        return skd.load_breast_cancer(return_X_y=True)
    if name == "digits":
        return skd.load_digits(return_X_y=True)
    if name == "moons":
        return skd.make_moons(n_samples=1000, noise=0.1, random_state=SEED)
    if name == "blobs":
        return skd.make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=1.0,
                              random_state=SEED)
    raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS}")


def validation_split(X, y, fraction):
    """The early-stopping slice shared by every model that needs one."""
    return train_test_split(X, y, test_size=fraction, stratify=y, random_state=SEED)


def one_hot(y, k):
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


# ----------------------------------------------------------------------------- peers


class GMMClassifier:
    """One GaussianMixture per class + class frequencies; configuration picked on validation."""

    GRID: ClassVar = [(c, cov, reg) for cov in ("full", "diag") for c in (1, 2, 3, 5)
            for reg in (1e-6, 1e-3, 1e-1)]

    def __init__(self, validation_fraction=0.2):
        self.validation_fraction = validation_fraction

    def _fit_classes(self, X, y, config):
        c, cov, reg = config
        models = []
        for k in range(self.n_classes_):
            Xk = X[y == k]
            models.append(GaussianMixture(n_components=min(c, len(Xk)), covariance_type=cov,
                                          reg_covar=reg, n_init=1, max_iter=200,
                                          random_state=SEED).fit(Xk))
        return models

    def fit(self, X, y):
        self.n_classes_ = int(y.max()) + 1
        self.log_prior_ = np.log(np.bincount(y, minlength=self.n_classes_) / len(y))
        Xt, Xv, yt, yv = validation_split(X, y, self.validation_fraction)
        best, best_score = None, -np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for config in self.GRID:
                try:
                    models = self._fit_classes(Xt, yt, config)
                except ValueError:
                    continue
                score = np.mean([m.score_samples(Xv[yv == k]).mean()
                                 for k, m in enumerate(models)])
                if score > best_score:
                    best, best_score = config, score
            self.config_ = best
            self.models_ = self._fit_classes(X, y, best)
        return self

    def _joint(self, X):
        return np.stack([m.score_samples(X) for m in self.models_], 1) + self.log_prior_

    def predict(self, X):
        return self._joint(X).argmax(1)

    def score_samples(self, X):
        return logsumexp(self._joint(X), axis=1)

    def generate(self, labels, temperature=1.0, random_state=None):
        rng = np.random.default_rng(random_state)
        labels = np.asarray(labels)
        out = np.empty((len(labels), self.models_[0].means_.shape[1]))
        for k in np.unique(labels):
            rows = np.flatnonzero(labels == k)
            m = self.models_[k]
            comp = rng.choice(len(m.weights_), size=len(rows), p=m.weights_)
            cov = m.covariances_
            for j, row in enumerate(rows):
                c = comp[j]
                if m.covariance_type == "full":
                    chol = np.linalg.cholesky(cov[c])
                    out[row] = m.means_[c] + temperature * chol @ rng.standard_normal(
                        chol.shape[0])
                else:
                    out[row] = m.means_[c] + temperature * np.sqrt(cov[c]) * \
                        rng.standard_normal(cov.shape[1])
        return out


class ZukoNSF:
    """zuko's class-conditional NSF, maximum likelihood with Adam and early stopping."""

    def __init__(self, validation_fraction=0.2, lr=1e-3, batch_size=128, patience=30,
                 max_epochs=1000, seed=SEED, dequantize_width=None):
        # dequantize_width: None, or per feature the width of one integer step in the units
        # fit() receives (1 / scale for standardised integers): fresh u * width is added to
        # every training minibatch, one fixed draw to the validation slice
        self.dequantize_width = dequantize_width
        self.validation_fraction = validation_fraction
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.max_epochs = max_epochs
        self.seed = seed

    def fit(self, X, y):
        import torch
        import zuko

        torch.manual_seed(self.seed)
        self.n_classes_ = int(y.max()) + 1
        self.log_prior_ = np.log(np.bincount(y, minlength=self.n_classes_) / len(y))
        Xt, Xv, yt, yv = validation_split(X, y, self.validation_fraction)
        width = None
        if self.dequantize_width is not None:
            width = np.asarray(self.dequantize_width, dtype=float)
            Xv = Xv + np.random.default_rng(self.seed).random(Xv.shape) * width
            width = torch.as_tensor(width, dtype=torch.float32)
        k = self.n_classes_
        xt, ct = torch.as_tensor(Xt, dtype=torch.float32), torch.as_tensor(one_hot(yt, k),
                                                                          dtype=torch.float32)
        xv, cv = torch.as_tensor(Xv, dtype=torch.float32), torch.as_tensor(one_hot(yv, k),
                                                                          dtype=torch.float32)
        self.flow_ = flow = zuko.flows.NSF(features=X.shape[1], context=k)
        opt = torch.optim.Adam(flow.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)
        best, best_state, wait = np.inf, None, 0
        self.epochs_ = 0
        for epoch in range(self.max_epochs):
            flow.train()
            perm = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(xt), self.batch_size):
                idx = perm[start:start + self.batch_size]
                batch = xt[idx]
                if width is not None:
                    batch = batch + torch.rand(batch.shape, generator=gen) * width
                loss = -flow(ct[idx]).log_prob(batch).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            flow.eval()
            with torch.no_grad():
                val = -flow(cv).log_prob(xv).mean().item()
            self.epochs_ = epoch + 1
            if val < best - 1e-4:
                best, wait = val, 0
                best_state = copy.deepcopy(flow.state_dict())
            else:
                wait += 1
                if wait >= self.patience or not math.isfinite(val):
                    break
        if best_state is not None:
            flow.load_state_dict(best_state)
        flow.eval()
        return self

    def _joint(self, X):
        import torch

        x = torch.as_tensor(X, dtype=torch.float32)
        cols = []
        with torch.no_grad():
            for k in range(self.n_classes_):
                c = torch.zeros(len(X), self.n_classes_)
                c[:, k] = 1
                cols.append(self.flow_(c).log_prob(x).double().numpy())
        return np.stack(cols, 1) + self.log_prior_

    def predict(self, X):
        return self._joint(X).argmax(1)

    def score_samples(self, X):
        return logsumexp(self._joint(X), axis=1)

    def generate(self, labels, temperature=1.0, random_state=None):
        import torch

        if temperature != 1.0:
            raise ValueError("zuko rows are sampled at temperature 1 only")
        torch.manual_seed(0 if random_state is None else int(random_state))
        c = torch.as_tensor(one_hot(np.asarray(labels), self.n_classes_), dtype=torch.float32)
        with torch.no_grad():
            return self.flow_(c).sample().double().numpy()


class Dequantised:
    """A peer fitted in standardised units on dequantised data, used in the data's units.

    ``fit(X, y)`` takes the raw integer training data and fits the model on
    ``scaler(X + noise)``: ``noise`` is the one fixed draw of the benchmark (GMM, LR), or
    None when the model adds fresh noise itself (zuko, built with ``dequantize_width``).
    ``predict`` reads integer inputs at their cells' centres ``x + 1/2``, as the candidate
    does; ``score_samples`` is the log density of the dequantised values in the data's units
    (the model's, in standardised units, minus sum(log scale)); ``generate`` returns samples
    in the data's units.
    """

    def __init__(self, model, scaler, noise=None):
        self.model = model
        self.scaler = scaler
        self.noise = noise
        self.log_scale = float(np.sum(np.log(scaler.scale_)))

    def fit(self, X, y):
        self.model.fit(self.scaler.transform(X if self.noise is None else X + self.noise), y)
        for attr in ("epochs_", "n_iter_", "config_"):
            if hasattr(self.model, attr):
                setattr(self, attr, getattr(self.model, attr))
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return self.model.predict(self.scaler.transform(X + 0.5 * (X == np.round(X))))

    def score_samples(self, X):
        return self.model.score_samples(self.scaler.transform(X)) - self.log_scale

    def generate(self, labels, temperature=1.0, random_state=None):
        return self.scaler.inverse_transform(
            self.model.generate(labels, temperature=temperature, random_state=random_state))


class LRModel:
    def fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=5000).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


# ----------------------------------------------------------------------------- candidate


def load_candidate(spec: str | None):
    """``path/to/file.py:Class`` or ``module:Class``; None: revcore.InvertibleClassifier."""
    if spec is None:
        import revcore

        return revcore.InvertibleClassifier, "revcore"
    target, _, cls = spec.rpartition(":")
    if target.endswith(".py"):
        name = os.path.splitext(os.path.basename(target))[0]
        module_spec = importlib.util.spec_from_file_location(name, target)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, cls), cls


def candidate_parameters(candidate):
    """The keyword arguments the candidate's constructor names (empty if unknown)."""
    try:
        return set(inspect.signature(candidate).parameters)
    except (TypeError, ValueError):
        return set()


# ----------------------------------------------------------------------------- metrics


def two_sample(real, fake, labels, k):
    """5-fold CV accuracy of a classifier separating fake from real (x and label)."""
    feats = np.vstack([np.hstack([real, labels[:, None]]), np.hstack([fake, labels[:, None]])])
    target = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    clf = HistGradientBoostingClassifier(random_state=SEED)
    cv = StratifiedKFold(5, shuffle=True, random_state=SEED)
    return float(cross_val_score(clf, feats, target, cv=cv).mean())


def in_range(samples, lo, hi):
    return float(np.mean((samples >= lo) & (samples <= hi)))


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def sample_metrics(model, temperature, ctx, repeats):
    """Generated samples: judge agreement, range, two-sample test, sampling time."""
    real, yte, judge, lo, hi, k = ctx["real"], ctx["yte"], ctx["judge"], ctx["lo"], \
        ctx["hi"], ctx["k"]
    judged, ranged, tests = [], [], []
    for r in range(repeats):
        fake = np.asarray(model.generate(yte, temperature=temperature, random_state=100 + r),
                          dtype=float)
        if not np.all(np.isfinite(fake)):
            bad = ~np.all(np.isfinite(fake), axis=1)
            fake[bad] = 1e6  # counted out of range and misread rather than dropped
        judged.append(float(np.mean(judge.predict(ctx["to_judge"](fake)) == yte)))
        ranged.append(in_range(fake, lo, hi))
        tests.append(two_sample(real, fake, yte, k))
    labels = np.arange(1000) % k
    _, gen_s = timed(model.generate, labels, temperature=temperature, random_state=7)
    return {"judge": float(np.mean(judged)), "range": float(np.mean(ranged)),
                "two_sample": float(np.mean(tests)), "gen_s": gen_s}


def evaluate(name, model, ctx, temperatures, repeats, is_generative=True):
    """Fit, predict, score and sample one model; one row per temperature.

    ``ctx`` holds the inputs every model receives (``Xtr``, ``Xte``: standardised data, or
    the raw data on a discrete dataset), the test rows its log-likelihood is measured on
    (``Xll``) with the offset to the data's units (``log_scale``), and the real side of the
    sample metrics (``real``, ``to_judge``, ``lo``, ``hi``).
    """
    Xtr, ytr, Xte, yte = ctx["Xtr"], ctx["ytr"], ctx["Xte"], ctx["yte"]
    _, fit_s = timed(model.fit, Xtr, ytr)
    pred, pred_s = timed(model.predict, Xte)
    base = {"model": name, "acc": float(np.mean(np.asarray(pred) == yte)), "fit_s": fit_s,
                "pred_s": pred_s}
    for attr, key in (("epochs_", "epochs"), ("n_iter_", "epochs"), ("config_", "config")):
        if hasattr(model, attr):
            base[key] = getattr(model, attr)
    if not is_generative:
        return [base]
    d = Xte.shape[1]
    if hasattr(model, "score_samples"):
        ll = np.asarray(model.score_samples(ctx["Xll"]), dtype=float)
        base["ll_d"] = float((ll.mean() - ctx["log_scale"]) / d)
    rows = []
    for t in temperatures:
        row = dict(base, model=f"{name} T={t:g}" if len(temperatures) > 1 else name,
                   temperature=t)
        try:
            row.update(sample_metrics(model, t, ctx, repeats))
        except TypeError:  # no temperature argument: an older estimator
            try:
                gen = model.generate

                class _Plain:
                    def generate(self, labels, temperature=1.0, random_state=None,
                                 gen=gen):
                        return gen(labels, random_state=random_state)

                row.update(sample_metrics(_Plain(), t, ctx, repeats))
                row["model"] = f"{name} (no temperature)"
            except Exception as exc:  # noqa: BLE001
                row["error"] = repr(exc)
        rows.append(row)
        if "error" not in row and row["model"].endswith("(no temperature)"):
            break
    return rows


def evaluate_seeds(name, make_model, seeds, ctx, temperatures, repeats):
    """``evaluate`` for ``make_model(seed)``, seed = 0 .. seeds - 1: each numeric figure is
    the mean over the seeds, with its [min, max] in ``row["spread"]`` (and every seed's row
    in ``row["per_seed"]``) when there are several."""
    runs = [evaluate(name, make_model(seed), ctx, temperatures, repeats)
            for seed in range(seeds)]
    if seeds == 1:
        return runs[0]
    rows = []
    for per_seed in zip(*runs):
        row = dict(per_seed[0])
        spread = {}
        for key, value in per_seed[0].items():
            values = [r.get(key) for r in per_seed]
            if key == "temperature" or isinstance(value, bool) or not all(
                    isinstance(v, (int, float)) for v in values):
                continue
            row[key] = float(np.mean(values))
            spread[key] = [float(np.min(values)), float(np.max(values))]
        row.update(seeds=seeds, spread=spread, per_seed=list(per_seed))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- report


COLUMNS = [("model", 24, "{:<24}", "model"), ("acc", 6, "{:>6.3f}", "acc"),
           ("ll_d", 8, "{:>8.3f}", "ll/d"), ("judge", 6, "{:>6.3f}", "judge"),
           ("range", 6, "{:>6.3f}", "range"), ("two_sample", 6, "{:>6.3f}", "2st"),
           ("fit_s", 7, "{:>7.2f}", "fit s"), ("pred_s", 7, "{:>7.3f}", "pred s"),
           ("gen_s", 7, "{:>7.3f}", "gen s"), ("epochs", 6, "{:>6.0f}", "epochs")]


def fmt_table(rows):
    lines = [" ".join(f"{h:<{w}}" if key == "model" else f"{h:>{w}}"
                      for key, w, _, h in COLUMNS)]
    for row in rows:
        cells = []
        for key, width, spec, _ in COLUMNS:
            value = row.get(key)
            if key == "model":
                cells.append(spec.format(str(value)[:width]))
            elif value is None:
                cells.append(f"{'-':>{width}}")
            elif isinstance(value, float) and not math.isfinite(value):
                cells.append(f"{value!s:>{width}}")
            else:
                cells.append(spec.format(value))
        lines.append(" ".join(cells))
    return "\n".join(lines)


def bars(dataset, rows, candidate_name, bar_t, lr_acc):
    if candidate_name is None:
        return []
    cand = [r for r in rows if r["model"].startswith(candidate_name)
            and r.get("temperature") == bar_t] or \
        [r for r in rows if r["model"].startswith(candidate_name)]
    zuko = [r for r in rows if r["model"] == "zuko NSF"]
    if not cand:
        return []
    c, z = cand[0], (zuko[0] if zuko else None)
    out = []

    def add(label, value, target, ok):
        out.append({"bar": label, "value": value, "target": target,
                        "ok": None if ok is None else bool(ok)})

    if dataset == "digits":
        add("acc >= 0.97", c["acc"], 0.97, c["acc"] >= 0.97)
        add("judge >= 0.95", c.get("judge"), 0.95, c.get("judge", 0) >= 0.95)
        add("range >= 0.95", c.get("range"), 0.95, c.get("range", 0) >= 0.95)
        if z is not None:
            if "ll_d" in c and "ll_d" in z:
                add(f"ll/d >= zuko's {z['ll_d']:.3f}", c["ll_d"], z["ll_d"],
                    c["ll_d"] >= z["ll_d"])
            if "two_sample" in c and "two_sample" in z:
                add(f"2st <= zuko+0.05 = {z['two_sample'] + 0.05:.3f}", c["two_sample"],
                    z["two_sample"] + 0.05, c["two_sample"] <= z["two_sample"] + 0.05)
            add(f"fit s <= zuko's/2 = {z['fit_s'] / 2:.2f}", c["fit_s"], z["fit_s"] / 2,
                c["fit_s"] <= z["fit_s"] / 2)
            if "gen_s" in c and "gen_s" in z:
                add(f"gen s <= zuko's/10 = {z['gen_s'] / 10:.3f}", c["gen_s"],
                    z["gen_s"] / 10, c["gen_s"] <= z["gen_s"] / 10)
        return out
    target = 0.97 if dataset == "moons" else lr_acc - 0.02
    if dataset == "moons":
        target = max(target, 0.97)
    add(f"acc >= {target:.3f}", c["acc"], target, c["acc"] >= target - 1e-12)
    if z is not None and "ll_d" in c and "ll_d" in z:
        add(f"ll/d >= zuko-0.05 = {z['ll_d'] - 0.05:.3f}", c["ll_d"], z["ll_d"] - 0.05,
            c["ll_d"] >= z["ll_d"] - 0.05)
    if "judge" in c:
        add(f"judge >= LR real-0.05 = {lr_acc - 0.05:.3f}", c["judge"], lr_acc - 0.05,
            c["judge"] >= lr_acc - 0.05)
        add("range >= 0.99", c["range"], 0.99, c["range"] >= 0.99)
        if z is not None and "two_sample" in z:
            add(f"2st <= zuko+0.05 = {z['two_sample'] + 0.05:.3f}", c["two_sample"],
                z["two_sample"] + 0.05, c["two_sample"] <= z["two_sample"] + 0.05)
    if z is not None:
        add(f"fit s <= zuko's {z['fit_s']:.2f}", c["fit_s"], z["fit_s"],
            c["fit_s"] <= z["fit_s"])
    return out


# ----------------------------------------------------------------------------- main


def run_dataset(name, args, candidate, candidate_name, have_zuko):
    X, y = load(name)
    X = np.asarray(X, dtype=float)
    y = np.unique(y, return_inverse=True)[1]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=SEED)
    discrete = bool(np.all(Xtr == np.round(Xtr))) if args.dequantize is None \
        else args.dequantize
    k = int(y.max()) + 1
    reps = 1 if args.quick else args.two_sample_repeats
    zuko_epochs = 200 if args.quick else args.max_epochs
    if discrete:
        # one fixed draw of the dequantisation noise for the training rows (scaler, GMM,
        # judge) and for the test rows (every model's ll/d, the real side of the samples)
        noise = np.random.default_rng(SEED)
        Xtr_d = Xtr + noise.random(Xtr.shape)
        Xte_d = Xte + noise.random(Xte.shape)
        scaler = StandardScaler().fit(Xtr_d)
        lo, hi = Xtr.min(0), Xtr.max(0) + 1.0
        span = hi - lo
        # every model is fitted on the raw data, predicts the raw test rows and is scored
        # and sampled in the data's units: the peers through Dequantised, the candidate
        # by itself; its log p is in the data's units already (no offset)
        ctx = {"Xtr": Xtr, "ytr": ytr, "Xte": Xte, "yte": yte, "Xll": Xte_d, "log_scale": 0.0,
               "real": Xte_d, "to_judge": scaler.transform, "k": k, "lo": lo - 0.1 * span,
               "hi": hi + 0.1 * span}
        judge_train = scaler.transform(Xtr_d)

        def peer(model, fixed_noise=True):
            return Dequantised(model, scaler, Xtr_d - Xtr if fixed_noise else None)

        def zuko(seed):
            return peer(ZukoNSF(args.validation_fraction, patience=args.patience,
                                max_epochs=zuko_epochs, seed=seed,
                                dequantize_width=1.0 / scaler.scale_), fixed_noise=False)
    else:
        scaler = StandardScaler().fit(Xtr)
        Xtr_s, Xte_s = scaler.transform(Xtr), scaler.transform(Xte)
        lo, hi = Xtr_s.min(0), Xtr_s.max(0)
        span = hi - lo
        ctx = {"Xtr": Xtr_s, "ytr": ytr, "Xte": Xte_s, "yte": yte, "Xll": Xte_s,
               "log_scale": float(np.sum(np.log(scaler.scale_))), "real": Xte_s,
               "to_judge": lambda samples: samples, "k": k, "lo": lo - 0.1 * span,
               "hi": hi + 0.1 * span}
        judge_train = Xtr_s

        def peer(model):
            return model

        def zuko(seed):
            return ZukoNSF(args.validation_fraction, patience=args.patience,
                           max_epochs=zuko_epochs, seed=seed)

    print(f"\n=== {name}: n_train={len(ytr)} n_test={len(yte)} d={X.shape[1]} classes={k}"
          + (" discrete: dequantised x + u" if discrete else ""), flush=True)
    rows = []
    lr_rows = evaluate("LR", peer(LRModel()), ctx, [], 0, is_generative=False)
    ctx["judge"] = judge = LogisticRegression(max_iter=5000).fit(judge_train, ytr)
    # the judge on the real test set (the dequantised one on discrete data)
    lr_rows[0]["judge"] = float(np.mean(judge.predict(ctx["to_judge"](ctx["real"])) == yte))
    rows += lr_rows
    rows += evaluate("GMM", peer(GMMClassifier(args.validation_fraction)), ctx, [1.0], reps)
    if have_zuko:
        rows += evaluate_seeds("zuko NSF", zuko, args.seeds, ctx, [1.0], reps)
    if candidate is not None:
        params = dict(args.candidate_params)
        accepted = candidate_parameters(candidate)
        if "random_state" in accepted:
            params.setdefault("random_state", 0)
        if discrete and args.dequantize and "dequantize" in accepted:
            params.setdefault("dequantize", True)  # forced: every feature, integer or not

        def make_candidate(seed):
            seeded = dict(params)
            if "random_state" in seeded and seeded["random_state"] is not None:
                seeded["random_state"] = int(seeded["random_state"]) + seed
            return candidate(**seeded)

        try:
            rows += evaluate_seeds(candidate_name, make_candidate, args.seeds, ctx,
                                   args.temperatures, reps)
        except Exception as exc:  # noqa: BLE001
            print(f"candidate {candidate_name} failed on {name}: {exc!r}")
            rows.append({"model": candidate_name, "error": repr(exc)})
    print(fmt_table([r for r in rows if "error" not in r or "acc" in r]))
    result = {"dataset": name, "discrete": discrete, "rows": rows,
              "bars": bars(name, rows, candidate_name, args.bar_temperature,
                           lr_rows[0]["acc"])}
    for b in result["bars"]:
        mark = "n/a" if b["ok"] is None else ("ok " if b["ok"] else "MISS")
        value = b["value"]
        print(f"  [{mark}] {b['bar']}: {value:.3f}" if isinstance(value, float)
              else f"  [{mark}] {b['bar']}: {value}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--quick", action="store_true",
                        help="one generated set for the two-sample test, zuko capped at 200 "
                             "epochs")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument("--candidate", help="path.py:Class or module:Class "
                                            "(default revcore.InvertibleClassifier)")
    parser.add_argument("--candidate-params", type=json.loads, default={})
    parser.add_argument("--candidate-name", default=None)
    parser.add_argument("--no-candidate", action="store_true")
    parser.add_argument("--no-zuko", action="store_true")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.95, 1.0],
                        help="the candidate's sampling temperatures (default: 0.95, revcore's "
                             "default, then 1, its model's own density)")
    parser.add_argument("--bar-temperature", type=float, default=None,
                        help="the candidate row the bars are checked on (default: the first "
                             "of --temperatures)")
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--patience", type=int, default=30, help="zuko, in epochs")
    parser.add_argument("--max-epochs", type=int, default=1000, help="zuko")
    parser.add_argument("--two-sample-repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1,
                        help="fit zuko and the candidate with this many seeds and report the "
                             "mean of every figure (min..max in the JSON)")
    discrete = parser.add_mutually_exclusive_group()
    discrete.add_argument("--dequantize", dest="dequantize", action="store_true",
                          default=None, help="treat every dataset as discrete (default: the "
                                             "datasets whose training values are all "
                                             "integers)")
    discrete.add_argument("--no-dequantize", dest="dequantize", action="store_false",
                          help="treat every dataset as continuous")
    args = parser.parse_args(argv)
    if args.bar_temperature is None:
        args.bar_temperature = args.temperatures[0]
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")

    have_zuko = not args.no_zuko
    if have_zuko:
        try:
            import torch
            import zuko  # noqa: F401

            torch.set_num_threads(1)
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:
                pass
        except ImportError as exc:
            print(f"zuko NSF skipped: {exc} (pip install torch zuko to compare against it)")
            have_zuko = False

    candidate, candidate_name = None, None
    if not args.no_candidate:
        try:
            candidate, candidate_name = load_candidate(args.candidate)
        except Exception as exc:  # noqa: BLE001
            print(f"candidate skipped: {exc!r}")
    candidate_name = args.candidate_name or candidate_name

    limits = threadpool_limits(1) if threadpool_limits is not None else None
    t0 = time.perf_counter()
    results = []
    try:
        for name in args.datasets:
            results.append(run_dataset(name, args, candidate, candidate_name, have_zuko))
    finally:
        if limits is not None:
            limits.unregister()

    print("\n=== summary of the bars (candidate: "
          f"{candidate_name}, T={args.bar_temperature:g})")
    for res in results:
        marks = ", ".join(f"{'ok' if b['ok'] else 'MISS'} {b['bar']} ({b['value']:.3f})"
                          for b in res["bars"] if b["ok"] is not None)
        print(f"{res['dataset']:<14} {marks or 'n/a'}")
    total = time.perf_counter() - t0
    print(f"total {total:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results, "total_s": total}, fh, indent=1,
                      default=str)


if __name__ == "__main__":
    main()
