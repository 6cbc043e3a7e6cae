"""A generative classifier whose network runs backwards: exact likelihood, Bayes' rule, and
sampling from the learned density."""

from __future__ import annotations

import inspect
import itertools
import math
import warnings
from typing import Any, TypeVar

import numpy as np

from ._backend import Backend
from ._estimator import check_is_fitted, validate_features, validate_targets
from ._io import (
    NETWORK_PREFIX,
    OBJECT_VERSION,
    _where,
    network_arrays,
    network_from_arrays,
    read_arrays,
    stored_object,
    write_arrays,
)
from ._network import Network
from ._power import (
    fit_yeo_johnson,
    tukey_quantile,
    tukey_quantile_inverse,
    yeo_johnson,
    yeo_johnson_inverse,
)
from ._training import (
    LOG_2PI,
    FlowModel,
    Stepper,
    initialise,
    one_hot,
    stratified_split,
    train,
)
from ._validation import as_float_array, check_finite_array

__all__ = ["InvertibleClassifier", "load_file"]

# A feature taking one value in at least this share of the training rows is left out of
# the density (see active_).
_NEAR_CONSTANT_SHARE = 0.95
# A feature is power-transformed (see lambdas_) only with at least this many distinct
# training values and a profile-likelihood gain of at least this many nats: fewer values
# cannot pin a shape down, and a small gain is within what fitting lam alone buys.
_POWER_MIN_VALUES = 20
_POWER_MIN_GAIN = 3.0
# class_context="auto" feeds the class to the conditioners with at most this many classes.
_CONTEXT_CLASSES = 5
# elementwise_bins="auto" on boxed features: on digits (seed 0, before early stopping judged
# the likelihood alone) 8 bins gave a two-sample test of 0.75, 16 bins 0.74-0.75, 32 bins
# 0.72, 64 bins 0.725 (affine maps alone 0.84); with the final defaults, 0.73 and 0.75 on
# seeds 0 and 1.
_ELEMENTWISE_BINS = 32
# The box [lower, upper) is mapped into [_SQUEEZE, 1 - _SQUEEZE) before the logit (or
# quantile function), so that values on the box's edge stay finite.
_SQUEEZE = 1e-3
# box_map="levels": each unit cell [v, v + 1) of the box weighs its training count plus
# _BOX_PRIOR (so no cell has probability 0); a box of more than _BOX_CELLS cells is mapped
# linearly. On digits (seeds 0 and 1, default otherwise) it took the two-sample test from
# 0.74 / 0.75 (the linear map) to 0.65 / 0.66 and the likelihood per pixel from -1.38 to
# -1.37, but at temperature 1 the samples read as requested by a logistic regression fell
# from 0.96 to 0.95 (0.94 with the logit in place of the near-normal quantile function;
# priors of 0.1, 3, 10 and 60 per cell, a classification weight of 5, 8 blocks, hidden
# width 128 or the class fed to the conditioners all gave 0.94-0.96). At the default
# temperature (_TEMPERATURE) they are read as requested 0.96 of the time, with a two-sample
# test of 0.67-0.68.
_BOX_PRIOR = 0.5
_BOX_CELLS = 1024
# The default sampling temperature. A flow fitted by maximum likelihood spreads its mass a
# little wider than the data (it is penalised for missing a test point, not for putting
# mass between them), so its samples at temperature 1 are a little less typical than real
# ones: on digits a logistic regression fitted on real digits read 0.950 of them as
# requested, against 0.969 of the real test digits. Measured over seeds 0 and 1 (one run of
# the side-by-side benchmark), 0.95 instead of 1: digits read as requested 0.950 -> 0.960,
# two-sample test 0.654 -> 0.674 (zuko's 0.684); iris, wine, breast cancer, moons and blobs
# moved by at most 0.011 in the two-sample test (breast cancer and moons 0.009 and 0.014
# lower, iris and wine 0.004 and 0.011 higher), every bar held. 0.8 cost breast cancer and
# wine about 0.04 in the two-sample test: shrinking every direction of a 30-dimensional
# Gaussian is visible even when the model is right.
_TEMPERATURE = 0.95
# logit="auto" boxes the dequantised features with at most this many levels (8-bit data)
# and at least this share of the rows on the minimum or the maximum.
_BOX_LEVELS = 256
_BOX_PILE = 0.02
_BOX_PILE_ROWS = 10  # and at least this many rows, so that small samples do not qualify
# Inference runs the flow over tiles of rows whose temporaries hold about this many values
# each, so that they stay in a core's L2 cache: measured about 2x faster than one pass over
# 10^5 rows or more. Every tile has at least _TILE_MIN_ROWS (>= 3) rows, and the kernels
# compute a row alike in any batch of 3 or more, so results do not depend on the tiling.
_TILE_VALUES = 2**17
# Incremental training keeps the rows it sees until it has seen this many, and starts
# again from all of them (the features modelled, the maps before the flow, the network's
# start) each time their number has doubled: one small chunk is too few to fit the maps (on
# breast cancer, chunks of 43 rows found 20 of the 30 skewed features, and the test
# log-likelihood stayed 0.15 nats per feature below fit's). Doubling keeps the fresh starts'
# epochs to fewer than 2 * _STREAM_MAP_ROWS rows in all.
_STREAM_MAP_ROWS = 2000
_TILE_MIN_ROWS = 256

_N = TypeVar("_N", bound=Network)

# Saved files: the key prefix of the constructor parameters, and the fitted arrays that are
# stored as they are (name: allowed dtype kinds).
_PARAMS_PREFIX = "params/"
_FITTED_ARRAYS = {
    "mean_": "f", "scale_": "f", "active_": "b", "discrete_": "b", "boxed_": "b",
    "lower_": "f", "upper_": "f", "lambdas_": "f", "power_mean_": "f",
    "level_feature_": "iu", "level_value_": "f", "level_log_prob_": "f",
    "box_feature_": "iu", "box_knot_": "f", "box_cdf_": "f",
    "power_scale_": "f", "class_means_": "f",
    "latent_scale_": "f", "latent_whitening_": "f", "class_log_prior_": "f",
    "loss_curve_": "f",
    "validation_scores_": "f",
}
_LABEL_KINDS = "biufUS"
# Parameters that files from earlier versions lack, and what those files' models did.
_OPTIONAL_PARAMS = {"box_map": "linear"}
# Arrays that files from earlier versions lack, and the value that means "not used".
_OPTIONAL_ARRAYS = {"lambdas_": 1.0, "power_mean_": 0.0, "power_scale_": 1.0,
                    "discrete_": False, "boxed_": False, "lower_": 0.0, "upper_": 1.0}  # bools, integers, floats, unicode and bytes strings


def _concatenated(features: list[np.ndarray], *values: list[np.ndarray]
                  ) -> tuple[np.ndarray, ...]:
    """Per-feature tables joined: the feature indices (int64) and each list of values
    (float64), empty arrays for no feature."""
    return (np.concatenate(features or [np.zeros(0)]).astype(np.int64),
            *(np.concatenate(v or [np.zeros(0)]).astype(np.float64) for v in values))


class InvertibleClassifier:
    """A normalizing flow with a class-conditional Gaussian base, used as a classifier and
    as a generator.

    The inputs are standardised (and skewed features power-transformed, see
    ``power_transform``), then an invertible network ``f`` (a ``revcore.Network`` of
    ``n_blocks`` blocks [LU-parametrised mixing layer, affine coupling block] and a closing
    mixing layer) maps them to codes ``z``. The model is ``p(x | y) = N(f(x); mu_y,
    Sigma_y) |det J_f(x)|`` with learned class means ``mu_y``, covariances ``Sigma_y =
    A_y^-1 diag(sigma_y^2) A_y^-T`` (learned scales ``sigma_y``; ``A_y`` the identity, or
    each class's own decorrelation: see ``latent_whitening_``) and ``p(y)`` the class
    frequencies, trained by maximum likelihood of
    ``p(x, y)`` plus ``classification_weight`` times the log-likelihood of ``p(y | x)`` (a
    hybrid objective) with Adam and early stopping. The first mixing layer starts as the
    whitening of the within-class covariance (so training starts from linear discriminant
    analysis; each class's scales start as its spread there, or its covariance when a
    covariance per class scores better on the held-out rows, as quadratic discriminant
    analysis) and each coupling block as the identity.

    Classes are Gaussian means, so any number of classes works with any number of features.
    Prediction is Bayes' rule; :meth:`score_samples` is ``log p(x)``; :meth:`sample` and
    :meth:`generate` draw ``z ~ N(mu_y, T^2 Sigma_y)`` and return ``f^-1(z)``: the fitted
    model holds its parameters only, no training data.

    Parameters
    ----------
    n_blocks : int, default 6
        Number of [mixing, coupling] blocks.
    coupling : {"affine", "spline"}, default "affine"
        The coupling blocks' transform of the second half: ``x2 * exp(s) + t`` (affine,
        ``|s| < 2``), or a monotone rational-quadratic spline per feature with ``n_bins``
        bins on [-4, 4] and identity tails, its knots given by the conditioner.
    n_bins : int, default 8
        Bins of the spline couplings (ignored for affine ones).
    elementwise_bins : int or "auto", default "auto"
        Bins of a learned monotone rational-quadratic spline per feature (on [-4, 4],
        identity tails, starting as the identity) applied before the first mixing layer,
        so that each feature's distribution can take a shape no affine map gives (a pile
        of values at an edge beside a long spread, as pixel intensities have); 0: none.
        "auto": 32 when the flow models a feature mapped through the logit of its box
        (see ``logit``), else 0.
    hidden_width : int, default 64
        Width of the coupling conditioners' hidden layers (ReLU, never inverted).
    hidden_layers : int, default 2
        Number of hidden layers per conditioner.
    learning_rate : float, default 1e-3
        Adam's step size.
    batch_size : int, default 128
    max_iter : int, default 1000
        Maximum number of epochs.
    early_stopping : bool, default True
        Hold out ``validation_fraction`` of each class and stop when the validation score
        (the held-out rows' ``log p(x, y)`` per dimension) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs; the best parameters are kept. When no epoch beats
        the start (a discriminant analysis in closed form, see above), the start is kept
        and estimated again from every training row, the held-out ones included, with the
        shrinkage and base they chose. With False, the training objective on all the data
        decides.
    validation_fraction : float, default 0.2
    n_iter_no_change : int, default 30
    tol : float, default 1e-4
    classification_weight : float, default 3.0
        beta >= 0, the weight of ``-log p(y | x)`` added to the per-dimension negative joint
        log-likelihood (0: pure maximum likelihood).
    class_context : {"auto", True, False}, default "auto"
        Feed each coupling conditioner the class's one-hot besides its half of the
        features, so that each class's density has its own shape, not only its own mean
        and scales. Prediction then runs the flow once per class, :meth:`encode` and
        :meth:`decode` take the rows' labels, and training costs up to one pass per class.
        "auto": with at most 5 classes (beyond, the cost grows with the classes while
        each class has fewer rows to shape its own density).
    dequantize : {"auto", True, False}, default "auto"
        Treat integer-valued features as discrete, as image pixels or counts are: train on
        ``x + u``, u uniform on [0, 1), so that the model is a density over the dequantised
        values (what :meth:`score_samples` evaluates and :meth:`generate` draws from; its
        ``discrete=True`` floors them back to integers). "auto": the active features whose
        training values are all integers; True: every active feature.
    logit : {"auto", True, False}, default "auto"
        Map dequantised features through the logit of their box [min, max + 1) (see
        ``boxed_``; counted in the likelihood), so that generated values stay inside the
        box; values outside it then have density 0. "auto": the features that look bounded, with at most 256
        levels and at least 2% of the training rows (and 10 rows) on the minimum or the
        maximum (pixel intensities, small counts), the box reaching past an edge without
        such a pile by the range seen (that edge is only the extreme value seen, not a
        bound); True: every dequantised feature, in the box [min, max + 1).
    box_map : {"levels", "linear"}, default "levels"
        How a boxed feature reaches the real line. "levels": a near-normal quantile
        function (Tukey's lambda distribution's, ``revcore._power.tukey_quantile``) of the
        feature's distribution function over the box, piecewise linear with each unit cell
        weighing its training count plus one half (see ``box_cdf_``): the piles of training
        values at some levels (as pixels' zeros) are spread evenly, the flow has no sharp
        edge to draw, and the feature reaches it about normally distributed (as
        scikit-learn's ``QuantileTransformer`` with a normal output does). "linear": the
        logit of its box mapped linearly onto (0, 1). On digits "levels" made samples much
        harder to tell from real ones (two-sample test 0.65-0.66 instead of 0.74-0.75 at
        temperature 1, the likelihood a little higher), read as the requested class by a
        logistic regression 95% of the time at temperature 1 instead of 96%.
    power_transform : bool, default True
        Map each skewed feature through a Yeo-Johnson power transform (after
        standardisation, then standardised again) before the flow, counted in the likelihood.
        The exponent is fitted per feature by maximum likelihood of a Gaussian, within
        [-1, 3], the transform being extended past a logarithm so that it stays a bijection
        of the real line (see ``revcore._power``); it is kept only where it gains at least
        3 nats over the identity on a feature with at least 20 distinct values (see
        ``lambdas_``).
    temperature : float, default 0.95
        Default scale of the base's standard deviation in :meth:`generate` (1: the model's
        own density, which :meth:`sample` draws from; below 1: more typical samples). A flow
        fitted by maximum likelihood spreads its mass a little wider than the data, and
        slightly below 1 its samples are read as their class more often without being easier
        to tell from real data (on digits, 0.96 read as requested instead of 0.95, two-sample
        test 0.67 instead of 0.65, zuko's 0.68); far below 1 they are easier to tell apart.
    dtype : {"float64", "float32"}, default "float64"
    random_state : int, numpy Generator or None
        Seeds the initialisation, the validation split and the batches.
    verbose : bool or int, default False
        Print the loss every ``verbose`` epochs (every epoch if True).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    n_features_in_ : int
    network_ : Network
        The fitted flow, on the standardised non-constant features.
    discrete_ : ndarray of bool, shape (n_features,)
        The dequantised features (see ``dequantize``). Those left out of the flow (not
        ``active_``) have a density of their own, independent of the rest and of the
        class: their integer levels' frequencies (plus one half each, and geometric tails
        beyond the training range) spread over each level's cell; :meth:`score_samples` counts it and :meth:`generate` draws from it.
    level_feature_, level_value_, level_log_prob_ : ndarray, shape (n_levels,)
        That density: feature index, level and log-probability, one row per level from
        the training minimum to the maximum; beyond, each tail holds the probability left
        over, halving with every level.
    boxed_ : ndarray of bool, shape (n_features,)
        The features mapped through the logit of their box ``[lower_, upper_)`` (see
        ``logit``): ``w = logit(s + (1 - 2 s) F(X))`` with ``s = 1e-3`` and ``F``
        piecewise linear from 0 at ``lower_`` to 1 at ``upper_`` (see ``box_cdf_``;
        with ``box_map="levels"``, Tukey's quantile function in place of the logit);
        ``w = X`` for the others. Values outside the box have density 0
        (:meth:`score_samples` gives -inf) and are clipped to it elsewhere.
    lower_, upper_ : ndarray, shape (n_features,)
    box_feature_, box_knot_, box_cdf_ : ndarray, shape (n_knots,)
        The maps ``F``: per boxed feature (``box_feature_``, in increasing order), its
        knots from ``lower_`` to ``upper_`` and the values of ``F`` there, from 0 to 1.
        With ``box_map="linear"`` (or a box of more than 1024 cells) the knots are the
        box's ends; with "levels", its unit cells' edges.
    mean_, scale_ : ndarray, shape (n_features,)
        The standardisation ``u = (w - mean_) / scale_``.
    lambdas_, power_mean_, power_scale_ : ndarray, shape (n_features,)
        The power transform: the network sees ``(psi(u, lambdas_) - power_mean_) /
        power_scale_`` in the columns of ``active_``, psi the Yeo-Johnson transform; a
        feature left as it is has ``lambdas_ = 1`` (psi the identity), ``power_mean_ = 0``
        and ``power_scale_ = 1``.
    active_ : ndarray of bool, shape (n_features,)
        The features the flow models. Constant and near-constant features (one value in
        at least 95% of the training rows) are left out: generation gives them their
        training mean (or, for discrete ones, draws their levels: see ``discrete_``),
        :meth:`encode` passes their offset from it through unchanged.
    class_means_ : ndarray, shape (n_classes, n_active)
    latent_scale_ : ndarray, shape (n_classes, n_active)
        sigma_y, the base's standard deviations per class (along the decorrelated codes).
    latent_whitening_ : ndarray, shape (n_classes, n_active, n_active)
        A_y, unit lower-triangular: ``A_y (z - mu_y) / sigma_y`` is standard normal under
        class y's base. The identity for every class unless, at the start of training, a
        full covariance per class (each class's covariance of the codes, shrunk towards
        the diagonal) scored better on the held-out rows than scales alone; then fixed
        while the rest trains. ``|det A_y| = 1``.
    class_log_prior_ : ndarray, shape (n_classes,)
    loss_curve_ : list of float
        Training objective per epoch.
    validation_scores_ : list of float
        ``log p(x, y)`` per dimension on the validation slice per epoch (empty without early
        stopping).
    best_validation_score_ : float or None
        The score of the parameters kept: the best of ``validation_scores_``, or the
        start's when it is higher (scored before its estimation from every row).
    n_iter_ : int
        Epochs run.

    Examples
    --------
    >>> import numpy as np, revcore
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-2, 1, (60, 2)), rng.normal(2, 1, (60, 2))])
    >>> y = np.repeat(["a", "b"], 60)
    >>> clf = revcore.InvertibleClassifier(n_blocks=2, hidden_width=16, max_iter=30,
    ...                                    random_state=0).fit(X, y)
    >>> bool(clf.score(X, y) > 0.95)
    True
    >>> clf.predict([[-2.0, -2.0], [2.0, 2.0]])
    array(['a', 'b'], dtype='<U1')
    >>> fakes = clf.generate(["b", "b", "a"], random_state=0)
    >>> fakes.shape
    (3, 2)
    >>> bool(np.allclose(clf.decode(clf.encode(X)), X, rtol=1e-12, atol=0))
    True
    """

    def __init__(
        self,
        n_blocks: int = 6,
        coupling: str = "affine",
        n_bins: int = 8,
        elementwise_bins: Any = "auto",
        hidden_width: int = 64,
        hidden_layers: int = 2,
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        max_iter: int = 1000,
        early_stopping: bool = True,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 30,
        tol: float = 1e-4,
        classification_weight: float = 3.0,
        class_context: Any = "auto",
        dequantize: Any = "auto",
        logit: Any = "auto",
        box_map: str = "levels",
        power_transform: bool = True,
        temperature: float = _TEMPERATURE,
        dtype: str = "float64",
        random_state: Any = None,
        verbose: bool | int = False,
    ) -> None:
        self.n_blocks = n_blocks
        self.coupling = coupling
        self.n_bins = n_bins
        self.elementwise_bins = elementwise_bins
        self.hidden_width = hidden_width
        self.hidden_layers = hidden_layers
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.classification_weight = classification_weight
        self.class_context = class_context
        self.dequantize = dequantize
        self.logit = logit
        self.box_map = box_map
        self.power_transform = power_transform
        self.temperature = temperature
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- scikit-learn protocol ----------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> InvertibleClassifier:
        """Set constructor parameters, as scikit-learn's ``set_params``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for InvertibleClassifier; valid ones are "
                    f"{', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = [
            f"{name}={value!r}" for name, value in self.get_params().items()
            if not (value is defaults[name] or (type(value) is type(defaults[name])
                                                  and value == defaults[name]))
        ]
        return f"InvertibleClassifier({', '.join(changed)})"

    _estimator_type = "classifier"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(),
        )

    # -- fitting --------------------------------------------------------------------------

    def _validate_params(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

        def number(name: str, low: float, high: float = math.inf,
                   strictly: bool = False) -> None:
            value = getattr(self, name)
            ok = (isinstance(value, (int, float, np.floating, np.integer))
                  and not isinstance(value, bool) and math.isfinite(value)
                  and (value > low if strictly else value >= low) and value < high)
            if not ok:
                bound = f"> {low:g}" if strictly else f">= {low:g}"
                upper = "" if high == math.inf else f" and < {high:g}"
                raise ValueError(f"{name} must be a finite number {bound}{upper}, got {value!r}")

        for name in ("n_blocks", "n_bins", "hidden_width", "batch_size", "max_iter", "n_iter_no_change"):
            positive_int(name)
        if isinstance(self.hidden_layers, bool) or not isinstance(
                self.hidden_layers, (int, np.integer)) or self.hidden_layers < 0:
            raise ValueError(
                f"hidden_layers must be a non-negative integer, got {self.hidden_layers!r}")
        number("learning_rate", 0.0, strictly=True)
        number("temperature", 0.0)
        number("classification_weight", 0.0)
        number("tol", 0.0)
        number("validation_fraction", 0.0, 1.0, strictly=True)
        if not (isinstance(self.dequantize, (bool, np.bool_)) or self.dequantize == "auto"):
            raise ValueError(f"dequantize must be 'auto', True or False, got "
                             f"{self.dequantize!r}")
        if not (isinstance(self.logit, (bool, np.bool_)) or self.logit == "auto"):
            raise ValueError(f"logit must be 'auto', True or False, got {self.logit!r}")
        if self.box_map not in ("linear", "levels"):
            raise ValueError(f"box_map must be 'linear' or 'levels', got {self.box_map!r}")
        if not (isinstance(self.class_context, (bool, np.bool_))
                or self.class_context == "auto"):
            raise ValueError(f"class_context must be 'auto', True or False, got "
                             f"{self.class_context!r}")
        for name in ("early_stopping", "power_transform"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(  # noqa: TRY004  (scikit-learn reports parameters so)
                    f"{name} must be True or False, got {value!r}")
        if not (self.elementwise_bins == "auto" or (
                isinstance(self.elementwise_bins, (int, np.integer))
                and not isinstance(self.elementwise_bins, bool)
                and (self.elementwise_bins == 0 or self.elementwise_bins >= 2))):
            raise ValueError(f"elementwise_bins must be 'auto', 0 or an integer >= 2, got "
                             f"{self.elementwise_bins!r}")
        if self.coupling not in ("affine", "spline"):
            raise ValueError(f"coupling must be 'affine' or 'spline', got {self.coupling!r}")
        if str(self.dtype) not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def fit(self, X: Any, y: Any) -> InvertibleClassifier:
        """Fit the flow on inputs X (n_samples, n_features) and labels y (n_samples,)."""
        self._validate_params()
        X = self._check_X(X, fitted=False)
        classes, labels = validate_targets(y, len(X), estimator_name=type(self).__name__)
        dtype = np.dtype(self.dtype)
        rng = np.random.default_rng(self.random_state)
        self._start(X, classes, rng)
        dequantized = X + self._noise(len(X), rng)
        inputs = self._standardise(dequantized)[0].astype(dtype)

        def resample(rows: np.ndarray) -> np.ndarray:
            return self._standardise(X[rows] + self._noise(len(rows), rng))[0].astype(dtype)
        model = self._new_model(inputs.shape[1], len(classes), rng)
        model.log_prior = np.log(np.bincount(labels, minlength=len(classes)) / len(labels))
        result = train(
            model, inputs, labels, beta=float(self.classification_weight),
            learning_rate=float(self.learning_rate), batch_size=int(self.batch_size),
            max_iter=int(self.max_iter), early_stopping=bool(self.early_stopping),
            validation_fraction=float(self.validation_fraction),
            n_iter_no_change=int(self.n_iter_no_change), tol=float(self.tol),
            whitening=True, rng=rng, backend=Backend(), verbose=self.verbose,
            resample=resample if self.discrete_.any() else None,
        )
        self._publish(result.model)
        self.loss_curve_ = result.loss_curve
        self.validation_scores_ = result.validation_scores
        self.best_validation_score_ = result.best_validation_score
        self.n_iter_ = result.n_iter
        self._stream = _Stream.start(self, len(X), labels, rng)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> InvertibleClassifier:
        """Train on the rows (X, y) of a stream, continuing from the previous calls
        (scikit-learn's incremental protocol, which ``dask_ml.wrappers.Incremental``
        drives).

        The first call (on an unfitted classifier) needs ``classes``, every label the
        stream will hold. Until 2000 rows have been seen (repeats count), the classifier
        keeps them, and each time their number has doubled it starts again from all of
        them: it fixes from them what the flow models (``active_``), the maps before it
        (``discrete_``, the box logit, the standardisation, the power transform) and the
        network's start (the whitening of the within-class covariance, shrunk towards the
        identity by ``n_features / n_samples``), then trains one epoch over them. Other
        calls train one epoch of Adam over their rows, continuing the optimiser. After
        2000 rows the rows are let go and the maps are kept, except the standardisation
        (``mean_``, ``scale_``), which goes on accumulating over every row, as do the
        class frequencies (calls after :meth:`fit` continue with fit's maps). There is no
        early stopping: loop over the data as many times as needed, watching a held-out
        score (too many passes overfit small data).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
        classes : array_like, shape (n_classes,), optional
            Required on the first call; on later calls it must be the same set.
        """
        stream = getattr(self, "_stream", None)
        if stream is None:
            self._validate_params()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            X = self._check_X(X, fitted=False)
            all_classes, _ = validate_targets(classes, len(np.ravel(classes)),
                                              estimator_name=type(self).__name__,
                                              input_name="classes")
            labels = self._stream_labels(y, len(X), all_classes)
            stream = self._restart(X, labels, all_classes, np.random.default_rng(
                self.random_state))
            self.loss_curve_, self.validation_scores_ = [], []
            self.best_validation_score_, self.n_iter_ = None, 0
        else:
            X = self._check_X(X)
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                          self.classes_):
                raise ValueError(f"classes {np.unique(np.asarray(classes)).tolist()} differ "
                                 f"from those of the first call, {self.classes_.tolist()}")
            labels = self._stream_labels(y, len(X), self.classes_)
            if stream.sample is not None:  # still few rows: keep them
                seen = (np.concatenate([stream.sample[0], X]),
                        np.concatenate([stream.sample[1], labels]))
                if len(seen[0]) >= min(2 * stream.sample_start, _STREAM_MAP_ROWS):
                    X, labels = seen  # twice as many rows as at the last start: again
                    stream = self._restart(X, labels, self.classes_, stream.rng)
                else:
                    stream.sample = seen
                    stream.add(self, X, labels)
            else:
                stream.add(self, X, labels)
        stepper = stream.stepper(self)
        rng = stream.rng

        def draw(rows: np.ndarray) -> np.ndarray:
            return self._standardise(X[rows] + self._noise(len(rows), rng))[0].astype(
                self.dtype)
        self.loss_curve_.append(stepper.epoch(X, labels, rng, draw))
        self.n_iter_ += 1
        self._publish(stepper.model, stream.log_prior())
        return self

    def _restart(self, X: np.ndarray, labels: np.ndarray, classes: np.ndarray,
                 rng: np.random.Generator) -> _Stream:
        """Incremental training from the start on the rows X seen so far: the features
        modelled, the maps and the network's start from them, and a new stream that keeps
        them while they are fewer than ``_STREAM_MAP_ROWS``."""
        self._start(X, classes, rng)
        inputs = self._standardise(X + self._noise(len(X), rng))[0].astype(self.dtype)
        model = self._new_model(inputs.shape[1], len(classes), rng)
        # the base is chosen on held-out rows, as fit chooses it
        kept, held = stratified_split(labels, float(self.validation_fraction), rng)
        initialise(model, inputs[kept], labels[kept], inputs[held], labels[held],
                   float(self.classification_weight), Backend())
        sample = (X, labels) if len(X) < _STREAM_MAP_ROWS else None
        self._stream = _Stream.start(self, len(X), labels, rng, model, sample)
        return self._stream

    def _new_model(self, width: int, n_classes: int, rng: np.random.Generator) -> FlowModel:
        """The flow the parameters describe, at its start (identity blocks)."""
        if self.class_context == "auto":
            context = n_classes <= _CONTEXT_CLASSES
        else:
            context = bool(self.class_context)
        elementwise = self.elementwise_bins
        if elementwise == "auto":
            elementwise = _ELEMENTWISE_BINS if np.any(self.boxed_[self.active_]) else 0
        return FlowModel.build(width, n_classes, self.n_blocks,
                               (self.hidden_width,) * self.hidden_layers, rng,
                               np.dtype(self.dtype), coupling=self.coupling,
                               bins=int(self.n_bins), class_context=context,
                               elementwise_bins=int(elementwise))

    def _stream_labels(self, y: Any, n: int, classes: np.ndarray) -> np.ndarray:
        """y's labels as indices into ``classes`` (a ValueError for any other label)."""
        found, index = validate_targets(y, n, estimator_name=type(self).__name__,
                                        min_classes=1)
        position = np.searchsorted(classes, found)
        position = np.minimum(position, len(classes) - 1)
        unknown = classes[position] != found
        if np.any(unknown):
            raise ValueError(f"y holds label {found[unknown][0].tolist()!r}, which is not "
                             f"among the classes {classes.tolist()}")
        return position[index]

    def _start(self, X: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> None:
        """The classes, the features modelled and every map before the flow, from X."""
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        std = X.std(axis=0)
        # Constant and near-constant features (one value in at least 95% of the rows: too
        # few other values to model, and tiny scales that would blow up their rare values)
        # are left out of the density and passed through exactly by encode and decode.
        mode_share = np.array([np.unique(column, return_counts=True)[1].max()
                               for column in X.T]) / len(X)
        self.active_ = (std > 1e-12 * np.maximum(1.0, np.abs(X.mean(axis=0)))) & (
            mode_share < _NEAR_CONSTANT_SHARE)
        if not self.active_.any():
            raise ValueError("every feature of X is constant: there is nothing to model")
        self._fit_maps(X, rng)

    def _publish(self, model: FlowModel, log_prior: np.ndarray | None = None) -> None:
        """The fitted attributes from a trained model (copies)."""
        self.network_ = Network(model.to_layers())
        self.class_means_ = model.means.copy()
        self.latent_scale_ = np.exp(model.log_sigma)
        self.latent_whitening_ = (np.tile(np.eye(model.means.shape[1]), (len(model.means), 1, 1))
                                  if model.whitening is None else model.whitening.copy())
        self.class_log_prior_ = (model.log_prior if log_prior is None else log_prior).copy()

    def _noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Dequantisation noise for n rows: uniform on [0, 1) in the discrete features."""
        return rng.random((n, self.n_features_in_)) * self.discrete_

    def _fit_maps(self, X: np.ndarray, rng: np.random.Generator) -> None:
        """Fit every map before the flow (dequantisation, box logit, standardisation, power
        transform) on the training inputs X."""
        n = X.shape[1]
        integer = np.all(X == np.round(X), axis=0)
        if self.dequantize == "auto":
            self.discrete_ = integer.copy()
        else:
            self.discrete_ = (self.active_ | integer) & bool(self.dequantize)
        self._fit_levels(X)
        low, high = X.min(axis=0), X.max(axis=0)
        if self.logit == "auto":
            # a bounded scale: few levels, and rows piled up on an edge (as pixels at 0).
            # An edge the rows pile up against is the scale's bound; one without a pile is
            # only the extreme value seen, so the box reaches past it by the range seen
            # (else later values beyond it, as in digits' sparse pixels, would have density
            # 0; it costs digits' test log-likelihood about 0.01 nats per pixel).
            need = max(_BOX_PILE * len(X), _BOX_PILE_ROWS)
            low_bound = (X == low).sum(axis=0) >= need
            high_bound = (X == high).sum(axis=0) >= need
            self.boxed_ = self.discrete_ & self.active_ & (high - low + 1 <= _BOX_LEVELS) & (
                low_bound | high_bound)
        else:
            self.boxed_ = self.discrete_ & self.active_ & bool(self.logit)
            low_bound = high_bound = np.ones(n, dtype=bool)
        span = high + 1.0 - low
        self.lower_ = np.where(self.boxed_, np.where(low_bound, low, low - span), 0.0)
        self.upper_ = np.where(self.boxed_, np.where(high_bound, high + 1.0, high + 1.0 + span),
                               1.0)
        self._fit_box_cdf(X)
        self.lambdas_, self.power_mean_, self.power_scale_ = np.ones(n), np.zeros(n), np.ones(n)
        self.mean_, self.scale_ = np.zeros(n), np.ones(n)
        w = self._boxed(X + self._noise(len(X), rng))[0]
        self.mean_ = w.mean(axis=0)
        self.scale_ = np.where(self.active_, w.std(axis=0), 1.0)
        self._fit_power_transform((w - self.mean_) / self.scale_)

    def _fit_box_cdf(self, X: np.ndarray) -> None:
        """The boxed features' maps onto [0, 1] (``box_*``, see ``box_map``) from the
        training inputs X."""
        features, knots, cdfs = [], [], []
        for j in np.flatnonzero(self.boxed_):
            lower, upper = self.lower_[j], self.upper_[j]
            cells = int(np.ceil(upper - lower))
            if self.box_map == "linear" or cells > _BOX_CELLS:
                edges, weights = np.array([lower, upper]), np.ones(1)
            else:
                edges = np.minimum(lower + np.arange(cells + 1.0), upper)
                cell = np.clip(np.floor(X[:, j] - lower), 0, cells - 1).astype(np.intp)
                weights = np.bincount(cell, minlength=cells) + _BOX_PRIOR * np.diff(edges)
            cdf = np.r_[0.0, np.cumsum(weights) / weights.sum()]
            cdf[-1] = 1.0
            features.append(np.full(len(edges), j))
            knots.append(edges)
            cdfs.append(cdf)
        self.box_feature_, self.box_knot_, self.box_cdf_ = _concatenated(features, knots, cdfs)

    def _box_functions(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(knots, F at the knots) of each boxed feature, in feature order."""
        return [(self.box_knot_[self.box_feature_ == j], self.box_cdf_[self.box_feature_ == j])
                for j in np.flatnonzero(self.boxed_)]

    def _fit_levels(self, X: np.ndarray) -> None:
        """The frequencies of the integer levels of the discrete features left out of the
        flow (``level_*``): every integer from the training minimum to the maximum weighs
        its count plus one half; beyond, a level d steps out weighs ``0.5 * 2^-d`` (so each
        tail weighs one half in all and no integer has probability 0)."""
        features, values, log_probs = [], [], []
        for j in np.flatnonzero(self.discrete_ & ~self.active_):
            low = X[:, j].min()
            counts = np.bincount((X[:, j] - low).astype(np.intp)) + 0.5
            features.append(np.full(len(counts), j))
            values.append(low + np.arange(len(counts), dtype=np.float64))
            log_probs.append(np.log(counts / (counts.sum() + 1.0)))
        self.level_feature_, self.level_value_, self.level_log_prob_ = _concatenated(
            features, values, log_probs)

    def _level_log_prob(self, X: np.ndarray) -> np.ndarray:
        """Per row: the log-probability of the levels of the discrete features left out of
        the flow (each level's cell [v, v + 1) has density equal to its probability)."""
        total = np.zeros(len(X))
        for j in np.unique(self.level_feature_):
            mine = self.level_feature_ == j
            values, log_probs = self.level_value_[mine], self.level_log_prob_[mine]
            position = np.floor(X[:, j]) - values[0]
            inside = (position >= 0) & (position < len(values))
            # beyond the range: 0.5 * 2^-d / Z, with 1 / Z the two tails' share
            log_tail = np.log(0.5 * max(1.0 - np.exp(log_probs).sum(), 1e-300))
            steps = np.where(position < 0, -position, position - len(values) + 1)
            found = np.where(inside, log_probs[np.clip(position, 0, len(values) - 1)
                                               .astype(np.intp)],
                             log_tail - steps * np.log(2.0))
            total += found
        return total

    def _draw_levels(self, out: np.ndarray, rng: np.random.Generator, discrete: bool) -> None:
        """Fill the discrete features left out of the flow with draws of their levels (plus
        the dequantisation noise unless ``discrete``)."""
        for j in np.unique(self.level_feature_):
            mine = self.level_feature_ == j
            values = self.level_value_[mine]
            p = np.exp(self.level_log_prob_[mine])
            tail = max(1.0 - p.sum(), 0.0) / 2
            pick = rng.choice(len(p) + 2, size=len(out), p=np.r_[p, tail, tail] / (
                p.sum() + 2 * tail))
            steps = rng.geometric(0.5, size=len(out))  # P(d) = 2^-d, d >= 1
            draws = np.where(pick < len(p), values[np.minimum(pick, len(p) - 1)],
                             np.where(pick == len(p), values[0] - steps, values[-1] + steps))
            out[:, j] = draws if discrete else draws + rng.random(len(out))

    def _fit_power_transform(self, u: np.ndarray) -> None:
        """Set ``lambdas_``, ``power_mean_`` and ``power_scale_`` from the standardised
        training inputs u (the features mapped by the box logit are left as they are)."""
        if not self.power_transform:
            return
        for j in np.flatnonzero(self.active_ & ~self.boxed_):
            column = u[:, j]
            if len(np.unique(column)) < _POWER_MIN_VALUES:
                continue
            lam, gain = fit_yeo_johnson(column)
            if gain < _POWER_MIN_GAIN:
                continue
            v = yeo_johnson(column, np.array(lam))[0]
            self.lambdas_[j], self.power_mean_[j], self.power_scale_[j] = lam, v.mean(), v.std()

    # -- saving and loading ---------------------------------------------------------------

    def save(self, path: Any) -> None:
        """Write the fitted classifier to an .npz file that numpy alone reads (layout in
        ``revcore._io``, format version 3); nothing is pickled. Load it with :meth:`load`
        or :func:`revcore.load`.

        Parameters
        ----------
        path : str, path-like or binary file object
            Written as given (no ".npz" is appended).

        Raises
        ------
        NotFittedError
            When the classifier is not fitted.
        ValueError
            When a parameter is invalid or ``classes_`` cannot be stored without pickling
            (an object array of mixed types, or of objects other than numbers and strings).

        Warns
        -----
        UserWarning
            When ``random_state`` is a random generator: it is stored as None.
        """
        self._check_fitted()
        self._validate_params()
        classes, was_object = _storable_classes(self.classes_)
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(OBJECT_VERSION, dtype=np.int64),
            "object": np.array(type(self).__name__),
            **network_arrays(self.network_._data(), NETWORK_PREFIX),
            "classes_": classes,
            "classes_object": np.array(was_object),
            "best_validation_score_": _optional(self.best_validation_score_),
            "n_iter_": np.array(self.n_iter_, dtype=np.int64),
        }
        for name in _FITTED_ARRAYS:
            arrays[name] = np.asarray(getattr(self, name))
        for name, value in self.get_params().items():
            arrays[_PARAMS_PREFIX + name] = _param_array(name, value)
        write_arrays(path, arrays)

    @classmethod
    def load(cls, path: Any) -> InvertibleClassifier:
        """Read a classifier saved with :meth:`save` (nothing is unpickled).

        Parameters
        ----------
        path : str, path-like or binary file object

        Returns
        -------
        InvertibleClassifier
            Fitted, with the saved parameters: its predictions, codes and generated
            samples are those of the classifier that was saved, bit for bit.

        Raises
        ------
        ValueError
            For a file that holds a network rather than a classifier, is truncated or
            corrupt, comes from a newer format version, or has a missing or unexpected key,
            an array of the wrong dtype or shape, a non-finite value or an invalid
            parameter.
        """
        contents = read_arrays(path)
        where = _where(path)
        name = stored_object(contents, where)
        if name != cls.__name__:
            raise ValueError(f"{where} holds a {name}, not an {cls.__name__}: read it with "
                             f"revcore.load or {name}.load")
        return cls._from_arrays(contents, where)

    @classmethod
    def _from_arrays(cls, contents: dict[str, np.ndarray], where: str,
                     network_class: type[Network] = Network) -> InvertibleClassifier:
        """The classifier held by a format version 3 file's arrays (see :meth:`load`), its
        ``network_`` a ``network_class``."""
        names = cls._param_names()
        known = {"format_version", "object", "classes_", "classes_object",
                 "best_validation_score_", "n_iter_", *_FITTED_ARRAYS,
                 *(_PARAMS_PREFIX + name for name in names)}
        for key in contents:
            if key not in known and not key.startswith(NETWORK_PREFIX):
                raise ValueError(f"{where}: unexpected array {key!r}")

        def get(key: str, kinds: str, ndim: int) -> np.ndarray:
            if key not in contents:
                raise ValueError(f"{where} is not a complete {cls.__name__} file: it has "
                                 f"no {key!r}")
            value = contents[key]
            if value.dtype.kind not in kinds or value.ndim != ndim:
                raise ValueError(f"{where}: {key} must be a {ndim}-d array of dtype kind "
                                 f"{'/'.join(kinds)}, got {value.ndim}-d {value.dtype}")
            return value

        params: dict[str, Any] = {}
        for name in names:
            if name in _OPTIONAL_PARAMS and _PARAMS_PREFIX + name not in contents:
                params[name] = _OPTIONAL_PARAMS[name]  # a file from before the parameter
                continue
            params[name] = _param_value(where, name, contents.get(_PARAMS_PREFIX + name))
        self = cls()
        try:
            self.set_params(**params)
            self._validate_params()
        except ValueError as error:
            raise ValueError(f"{where}: invalid parameter: {error}") from None
        for name in ("random_state", "verbose"):
            value = params[name]
            if value is not None and not isinstance(value, (bool, int)):
                raise ValueError(f"{where}: params/{name} must be an integer or None")
            if name == "verbose" and value is None:
                raise ValueError(f"{where}: params/verbose must be a bool or an integer")

        classes = get("classes_", _LABEL_KINDS, 1)
        if bool(get("classes_object", "b", 0)):
            classes = classes.astype(object)
        n_features = len(get("mean_", "f", 1))
        # Files written before these arrays existed: the maps they describe are unused.
        for name, value in _OPTIONAL_ARRAYS.items():
            contents.setdefault(name, np.full(n_features, value))
        for name in ("level_feature_", "level_value_", "level_log_prob_"):
            contents.setdefault(name, np.zeros(0, np.int64 if name == "level_feature_"
                                               else np.float64))
        if "box_feature_" not in contents and not {"box_knot_", "box_cdf_"} & set(contents):
            # files from before the boxes' distribution functions: a linear map of each box
            boxed = np.flatnonzero(np.asarray(contents["boxed_"], dtype=bool))
            lower, upper = (np.asarray(contents[k], dtype=np.float64) for k in ("lower_",
                                                                               "upper_"))
            contents["box_feature_"] = np.repeat(boxed, 2).astype(np.int64)
            contents["box_knot_"] = np.column_stack([lower[boxed], upper[boxed]]).ravel()
            contents["box_cdf_"] = np.tile([0.0, 1.0], len(boxed))
        two_d = ("class_means_", "latent_scale_")
        if "latent_whitening_" not in contents and "class_means_" in contents:
            # files from before the full covariances: every class's base is decorrelated
            # by the flow alone
            means = contents["class_means_"]
            width_k = means.shape[1] if means.ndim == 2 else 0
            contents["latent_whitening_"] = np.tile(np.eye(width_k), (len(means), 1, 1))
        if "latent_scale_" in contents and contents["latent_scale_"].ndim == 1:
            # files from before the scales were per class: one row shared by every class
            contents["latent_scale_"] = np.tile(contents["latent_scale_"],
                                                (len(get("classes_", _LABEL_KINDS, 1)), 1))
        fitted = {name: get(name, kinds, 3 if name == "latent_whitening_" else
                            2 if name in two_d else 1)
                  for name, kinds in _FITTED_ARRAYS.items()}
        active = fitted["active_"]
        width = int(active.sum())
        n_classes = len(classes)
        expected = {
            "mean_": (n_features,), "scale_": (n_features,), "active_": (n_features,),
            "lambdas_": (n_features,), "power_mean_": (n_features,),
            "discrete_": (n_features,), "boxed_": (n_features,), "lower_": (n_features,),
            "upper_": (n_features,),
            "power_scale_": (n_features,),
            "class_means_": (n_classes, width), "latent_scale_": (n_classes, width),
            "latent_whitening_": (n_classes, width, width),
            "class_log_prior_": (n_classes,),
        }
        for name, shape in expected.items():
            if fitted[name].shape != shape:
                raise ValueError(f"{where}: {name} must have shape {shape} (from the "
                                 f"lengths of mean_ and classes_ and active_'s count), got "
                                 f"{fitted[name].shape}")
            if not np.all(np.isfinite(fitted[name])):
                raise ValueError(f"{where}: {name} holds non-finite values")
        if n_features == 0 or width == 0 or n_classes == 0:
            raise ValueError(f"{where}: no features, no active feature or no class")
        if np.any(fitted["scale_"] <= 0) or np.any(fitted["latent_scale_"] <= 0) or np.any(
                fitted["power_scale_"] <= 0):
            raise ValueError(f"{where}: scale_, power_scale_ and latent_scale_ must be "
                             f"positive")
        whitening = fitted["latent_whitening_"]
        if np.any(np.triu(whitening, 1) != 0) or np.any(
                np.diagonal(whitening, axis1=1, axis2=2) != 1):
            raise ValueError(f"{where}: latent_whitening_ must be unit lower-triangular "
                             f"(zeros above a diagonal of ones)")
        if np.any(fitted["upper_"] <= fitted["lower_"]):
            raise ValueError(f"{where}: upper_ must exceed lower_")
        if np.any(fitted["boxed_"] & ~(fitted["discrete_"] & fitted["active_"])):
            raise ValueError(f"{where}: boxed_ features must be discrete_ and active_")
        self._check_box_functions(fitted, where)
        levels = fitted["level_feature_"]
        if not (len(levels) == len(fitted["level_value_"]) == len(fitted["level_log_prob_"])):
            raise ValueError(f"{where}: level_feature_, level_value_ and level_log_prob_ "
                             f"must have one length")
        if len(levels) and (levels.min() < 0 or levels.max() >= n_features or np.any(
                fitted["active_"][levels] | ~fitted["discrete_"][levels])):
            raise ValueError(f"{where}: level_feature_ must name discrete_ features that "
                             f"are not active_")
        if not (np.all(np.isfinite(fitted["level_value_"]))
                and np.all(fitted["level_log_prob_"] <= 0)):
            raise ValueError(f"{where}: level_value_ must be finite and level_log_prob_ "
                             f"<= 0")
        if np.any((fitted["lambdas_"] < -1) | (fitted["lambdas_"] > 3)):
            raise ValueError(f"{where}: lambdas_ must lie in [-1, 3]")
        if np.any(fitted["class_log_prior_"] > 0):
            raise ValueError(f"{where}: class_log_prior_ must be <= 0 (log probabilities)")
        if classes.dtype.kind == "f" and np.any(np.isnan(classes)):
            raise ValueError(f"{where}: classes_ holds NaN")
        if len(np.unique(classes)) != n_classes or np.any(
                np.unique(classes) != classes):
            raise ValueError(f"{where}: classes_ must be sorted and distinct")
        best = contents.get("best_validation_score_")
        if best is None or best.dtype.kind != "f" or best.shape not in ((), (0,)):
            raise ValueError(f"{where}: best_validation_score_ must be a float scalar, or "
                             f"an empty float array for None")
        n_iter = get("n_iter_", "iu", 0)
        if int(n_iter) < 0:
            raise ValueError(f"{where}: n_iter_ must be >= 0")

        network = network_class._from_file_data(
            network_from_arrays(contents, where, NETWORK_PREFIX), where)
        if network.n_inputs != width or network.n_outputs != width:
            raise ValueError(f"{where}: the network maps {network.n_inputs} to "
                             f"{network.n_outputs} features, but {width} are active")
        if network.dtype != np.dtype(self.dtype):
            raise ValueError(f"{where}: the network is {network.dtype} but params/dtype "
                             f"is {self.dtype}")
        self.classes_ = classes
        self.n_features_in_ = n_features
        self.mean_ = fitted["mean_"]
        self.scale_ = fitted["scale_"]
        self.lambdas_ = fitted["lambdas_"]
        self.discrete_ = fitted["discrete_"]
        self.boxed_ = fitted["boxed_"]
        self.lower_ = fitted["lower_"]
        self.upper_ = fitted["upper_"]
        self.box_feature_ = fitted["box_feature_"].astype(np.int64)
        self.box_knot_ = fitted["box_knot_"]
        self.box_cdf_ = fitted["box_cdf_"]
        self.level_feature_ = fitted["level_feature_"].astype(np.int64)
        self.level_value_ = fitted["level_value_"]
        self.level_log_prob_ = fitted["level_log_prob_"]
        self.power_mean_ = fitted["power_mean_"]
        self.power_scale_ = fitted["power_scale_"]
        self.active_ = active
        self.network_ = network
        self.class_means_ = fitted["class_means_"]
        self.latent_scale_ = fitted["latent_scale_"]
        self.latent_whitening_ = whitening
        self.class_log_prior_ = fitted["class_log_prior_"]
        self.loss_curve_ = fitted["loss_curve_"].tolist()
        self.validation_scores_ = fitted["validation_scores_"].tolist()
        self.best_validation_score_ = None if best.shape == (0,) else float(best)
        self.n_iter_ = int(n_iter)
        return self

    @staticmethod
    def _check_box_functions(fitted: dict[str, np.ndarray], where: str) -> None:
        """A ValueError unless ``box_*`` describe, for each boxed feature in turn, a
        distribution function over its box: knots increasing from ``lower_`` to ``upper_``,
        values increasing from 0 to 1."""
        features, knots, cdf = (fitted[k] for k in ("box_feature_", "box_knot_", "box_cdf_"))
        boxed = np.flatnonzero(fitted["boxed_"])
        if not len(features) == len(knots) == len(cdf):
            raise ValueError(f"{where}: box_feature_, box_knot_ and box_cdf_ must have one "
                             f"length")
        starts = np.flatnonzero(np.r_[True, features[1:] != features[:-1]])[:len(features)]
        ends = np.r_[starts[1:], len(features)].astype(np.intp)[:len(starts)]
        if not np.array_equal(features[starts], boxed) or np.any(ends - starts < 2):
            raise ValueError(f"{where}: box_feature_ must list each boxed_ feature once, "
                             f"in increasing order, with at least two knots")
        if not (np.all(np.isfinite(knots)) and np.all(np.isfinite(cdf))):
            raise ValueError(f"{where}: box_knot_ and box_cdf_ hold non-finite values")
        within = np.ones(len(features), dtype=bool)
        within[ends - 1] = False
        if (np.any(knots[starts] != fitted["lower_"][boxed])
                or np.any(knots[ends - 1] != fitted["upper_"][boxed])
                or np.any(cdf[starts] != 0) or np.any(cdf[ends - 1] != 1)
                or np.any(np.diff(knots)[within[:-1]] <= 0)
                or np.any(np.diff(cdf)[within[:-1]] <= 0)):
            raise ValueError(f"{where}: each boxed feature's box_knot_ must increase from "
                             f"lower_ to upper_ and its box_cdf_ from 0 to 1")

    # -- input checks (scikit-learn's conventions, revcore._estimator) --------------------

    def _check_fitted(self) -> None:
        check_is_fitted(self)

    def _check_X(self, X: Any, fitted: bool = True) -> np.ndarray:
        if fitted:
            check_is_fitted(self)
        return validate_features(X, estimator_name=type(self).__name__, dtype=np.float64,
                                 n_features_in=self.n_features_in_ if fitted else None)

    def _class_indices(self, labels: Any) -> np.ndarray:
        labels = np.asarray(labels)
        index = np.searchsorted(self.classes_, labels)
        index = np.minimum(index, len(self.classes_) - 1)
        unknown = self.classes_[index] != labels
        if np.any(unknown):
            raise ValueError(
                f"unknown label {labels[unknown].ravel()[0].tolist()!r}; the classes are "
                f"{self.classes_.tolist()}"
            )
        return index

    # -- the model ------------------------------------------------------------------------

    def _power_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The active features' columns (in the network's inputs) that are power-transformed,
        and their exponents, shifts and spreads."""
        lam, shift, spread = (a[self.active_] for a in (
            self.lambdas_, self.power_mean_, self.power_scale_))
        columns = np.flatnonzero(lam != 1.0)
        return columns, lam[columns], shift[columns], spread[columns]

    def _boxed(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``w`` (see ``boxed_``) for X clipped to the box, the log-Jacobian of the box
        logit per row, and whether each row was outside the box."""
        w = X.copy()
        log_jacobian = np.zeros(len(X))
        outside = np.zeros(len(X), dtype=bool)
        columns = np.flatnonzero(self.boxed_)
        if len(columns):
            lower, upper = self.lower_[columns], self.upper_[columns]
            x = X[:, columns]
            outside = np.any((x < lower) | (x >= upper), axis=1)
            x = np.clip(x, lower, upper)
            f, slope = np.empty_like(x), np.empty_like(x)
            for i, (knots, cdf) in enumerate(self._box_functions()):
                f[:, i] = np.interp(x[:, i], knots, cdf)
                cell = np.clip(np.searchsorted(knots, x[:, i], side="right") - 1, 0,
                               len(knots) - 2)
                slope[:, i] = (cdf[cell + 1] - cdf[cell]) / (knots[cell + 1] - knots[cell])
            p = _SQUEEZE + (1 - 2 * _SQUEEZE) * f
            if self.box_map == "levels":
                w[:, columns], log_slope = tukey_quantile(p)
            else:
                w[:, columns], log_slope = np.log(p) - np.log1p(-p), -np.log(p) - np.log1p(-p)
            log_jacobian += (np.log((1 - 2 * _SQUEEZE) * slope) + log_slope).sum(axis=1)
        return w, log_jacobian, outside

    def _standardise(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The network's inputs for X, the log-Jacobian of the map to them per row, and
        whether each row lies outside the box of the boxed features (clipped to it)."""
        w, log_jacobian, outside = self._boxed(X)
        u = np.ascontiguousarray(((w - self.mean_) / self.scale_)[:, self.active_])
        log_jacobian -= np.log(self.scale_[self.active_]).sum()
        columns, lam, shift, spread = self._power_columns()
        if len(columns):
            v, log_slope = yeo_johnson(u[:, columns], lam)
            u[:, columns] = (v - shift) / spread
            log_jacobian += log_slope.sum(axis=1) - np.log(spread).sum()
        return u, log_jacobian, outside

    def _unstandardise(self, inputs: np.ndarray) -> np.ndarray:
        u = inputs.copy()
        columns, lam, shift, spread = self._power_columns()
        if len(columns):
            u[:, columns] = yeo_johnson_inverse(u[:, columns] * spread + shift, lam)
        out = np.tile(self.mean_, (len(inputs), 1))
        out[:, self.active_] += u * self.scale_[self.active_]
        columns = np.flatnonzero(self.boxed_)
        if len(columns):
            if self.box_map == "levels":
                p = tukey_quantile_inverse(out[:, columns])
            else:
                p = 0.5 * (1.0 + np.tanh(0.5 * out[:, columns]))
            f = (p - _SQUEEZE) / (1 - 2 * _SQUEEZE)
            for i, (knots, cdf) in enumerate(self._box_functions()):
                # within the squeeze beyond the box, the end cells' slopes go on
                first = (knots[1] - knots[0]) / (cdf[1] - cdf[0])
                last = (knots[-1] - knots[-2]) / (cdf[-1] - cdf[-2])
                out[:, columns[i]] = np.where(
                    f[:, i] < 0, knots[0] + f[:, i] * first, np.where(
                        f[:, i] > 1, knots[-1] + (f[:, i] - 1) * last,
                        np.interp(f[:, i], cdf, knots)))
        return out

    def _joint_log_proba(self, X: Any) -> np.ndarray:
        """(n, K): ``log p(x, k)`` of the inputs X (checked here; see :meth:`_joint`)."""
        return self._joint(self._check_X(X))

    def _tile_bounds(self, n: int) -> list[int]:
        """Where the tiles of ``n`` rows start and end (see ``_TILE_VALUES``): full tiles,
        the remainder joining the last one."""
        rows = max(_TILE_MIN_ROWS, _TILE_VALUES // max(self.n_features_in_, self.hidden_width))
        bounds = list(range(0, n, rows)) + [n]
        if len(bounds) > 2 and n - bounds[-2] < rows:
            del bounds[-2]
        return bounds

    def _by_tiles(self, fn: Any, X: np.ndarray, *others: np.ndarray | None) -> np.ndarray:
        """``fn(X, *others)`` computed over tiles of their rows and stacked (None passes
        through as None)."""
        bounds = self._tile_bounds(len(X))
        if len(bounds) <= 2:
            return fn(X, *others)
        return np.concatenate([
            fn(X[start:stop], *(None if a is None else a[start:stop] for a in others))
            for start, stop in itertools.pairwise(bounds)])

    def _joint(self, X: np.ndarray, outside: bool = False) -> np.ndarray:
        """(n, K): ``log p(x, k)`` in the units of the checked inputs X (over the
        non-constant features); rows outside the box of the boxed features are clipped to
        it, or with ``outside`` get -inf."""
        return self._by_tiles(lambda rows: self._joint_tile(rows, outside), X)

    def _joint_tile(self, X: np.ndarray, outside: bool) -> np.ndarray:
        if self.discrete_.any():
            # an integer in a discrete feature stands for its cell [x, x + 1): read at the
            # cell's centre (dequantised, non-integer values are read as they are)
            X = X + 0.5 * (self.discrete_ & (X == np.round(X)))
        inputs, log_jacobian, beyond = self._standardise(X)
        if outside:
            log_jacobian[beyond] = -np.inf
        inputs = inputs.astype(self.network_.dtype)
        k = len(self.classes_)
        if self.network_.context_width:  # one pass per class, its one-hot as context
            passes = [self.network_.forward_log_det(
                inputs, context=self._context(np.full(len(inputs), c))) for c in range(k)]
        else:
            passes = [self.network_.forward_log_det(inputs)] * k
        joint = np.empty((len(inputs), k))
        for c, (z, log_det) in enumerate(passes):
            u = self._standardised(z.astype(np.float64) - self.class_means_[c], c)
            joint[:, c] = (-0.5 * (u * u).sum(axis=1) - np.log(self.latent_scale_[c]).sum()
                           - 0.5 * u.shape[1] * LOG_2PI + log_det.astype(np.float64))
        return joint + log_jacobian[:, None] + self.class_log_prior_[None, :]

    def _context(self, classes: np.ndarray) -> np.ndarray | None:
        """The classes' one-hot rows, for a flow whose conditioners take the class (else
        None)."""
        if not self.network_.context_width:
            return None
        return one_hot(classes, len(self.classes_), self.network_.dtype)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log p(y | x)`` by Bayes' rule, shape (n_samples, n_classes)."""
        joint = self._joint_log_proba(X)
        top = joint.max(axis=1, keepdims=True)
        return joint - top - np.log(np.exp(joint - top).sum(axis=1, keepdims=True))

    def predict_proba(self, X: Any) -> np.ndarray:
        """``p(y | x)`` by Bayes' rule, shape (n_samples, n_classes)."""
        return np.exp(self.predict_log_proba(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds ``log p(classes_[1] | x) - log p(classes_[0] | x)``, shape (n_samples,),
        for two classes; ``log p(y | x)``, shape (n_samples, n_classes), for more."""
        log_proba = self.predict_log_proba(X)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, shape (n_samples,)."""
        joint = self._joint_log_proba(X)
        return self.classes_[np.argmax(joint, axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on (X, y)."""
        correct = self.predict(X) == np.asarray(y)
        return float(np.average(correct, weights=sample_weight))

    def score_samples(self, X: Any) -> np.ndarray:
        """``log p(x)`` of each row in the units of X (the Jacobians of every map before
        the flow included), over the features that vary in the training data; low values
        flag inputs unlike the training data. For dequantised features (``discrete_``) it
        is the density of the dequantised values at X (evaluate it at ``X + u``, u uniform
        on [0, 1), for the usual dequantised log-likelihood), an integer there being read
        at the centre of its cell, ``x + 1/2`` (as every prediction reads it); -inf
        outside the box of the boxed features."""
        X = self._check_X(X)
        joint = self._joint(X, outside=True)
        top = joint.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):  # -inf - -inf for rows outside the box
            log_p = (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True)))[:, 0]
        log_p = np.where(np.isneginf(top[:, 0]), -np.inf, log_p)
        if len(self.level_feature_):
            log_p = log_p + self._level_log_prob(X)
        return log_p

    def check(self) -> Any:
        """The network's invertibility report (see :meth:`Network.check`)."""
        self._check_fitted()
        return self.network_.check()

    # -- running backwards ----------------------------------------------------------------

    def encode(self, X: Any, y: Any = None) -> np.ndarray:
        """The codes of X, shape (n_samples, n_features): ``z = f(x)`` in the columns of the
        features that vary in the training data (``active_``), and the difference to the
        training value in the others (0 for training-like inputs), so that
        :meth:`decode` recovers any input. With ``class_context``, the flow depends on
        the class: ``y`` gives each row's label (default: the predicted one), and decoding
        needs the same labels."""
        X = self._check_X(X)
        classes = self._rows_classes(y, len(X), lambda: np.argmax(self._joint(X),
                                                                  axis=1))
        Z = X - self.mean_
        Z[:, self.active_] = self._by_tiles(self._codes_of, X, classes)
        return Z

    def _codes_of(self, X: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
        return self.network_.forward(self._standardise(X)[0].astype(self.network_.dtype),
                                     context=None if classes is None
                                     else self._context(classes))

    def decode(self, Z: Any, y: Any = None) -> np.ndarray:
        """The inputs, in the units of X, whose codes (see :meth:`encode`) are ``Z``:
        ``decode(encode(X, y), y)`` is X to rounding. With ``class_context``, ``y`` gives
        each row's label (default: the class whose base density is highest at z)."""
        self._check_fitted()
        Z = as_float_array(Z, "Z")
        if Z.ndim != 2 or Z.shape[1] != self.n_features_in_:
            raise ValueError(f"Z must have shape (n, {self.n_features_in_}), got {Z.shape}")
        check_finite_array(Z, "Z")
        classes = self._rows_classes(y, len(Z), lambda: self._nearest_classes(
            Z[:, self.active_]))
        return self._decode(Z, classes)

    def _decode(self, Z: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
        return self._by_tiles(self._decode_tile, Z, classes)

    def _decode_tile(self, Z: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
        inputs = self.network_.inverse(
            np.ascontiguousarray(Z[:, self.active_], dtype=self.network_.dtype),
            context=None if classes is None else self._context(classes))
        X = self._unstandardise(inputs.astype(np.float64))
        X[:, ~self.active_] += Z[:, ~self.active_]
        return X

    def _rows_classes(self, y: Any, n: int, default: Any) -> np.ndarray | None:
        """Each row's class index for a flow that takes the class (None for one that does
        not): from the labels ``y`` (one per row, or one for all), else ``default()``."""
        if not self.network_.context_width:
            return None
        if y is None:
            return np.asarray(default(), dtype=np.intp)
        return self._class_indices(np.broadcast_to(np.asarray(y), (n,)))

    def _nearest_classes(self, z: np.ndarray) -> np.ndarray:
        """The class whose base density (times its prior) is highest at each code z."""
        u = np.stack([self._standardised(z - self.class_means_[c], c)
                      for c in range(len(self.classes_))], axis=1)
        score = (-0.5 * (u * u).sum(axis=2) - np.log(self.latent_scale_).sum(axis=1)
                 + self.class_log_prior_)
        return np.argmax(score, axis=1)

    def _full_covariance(self) -> bool:
        """Whether some class's base has its own decorrelation (``latent_whitening_``)."""
        return bool(np.any(self.latent_whitening_ != np.eye(self.latent_whitening_.shape[1])))

    def _whitened(self, offsets: np.ndarray, c: int) -> np.ndarray:
        """``A_c offsets`` for code offsets from class c's mean (rows)."""
        if not self._full_covariance():
            return offsets
        # the native product: numpy's BLAS threads would wait on busy cores (Dask workers)
        return Backend.matmul(offsets, self.latent_whitening_[c].T)

    def _standardised(self, offsets: np.ndarray, c: int) -> np.ndarray:
        """Code offsets from class c's mean in its base's standard units: ``A_c offsets / s_c``
        (``latent_scale_``), independent standard normals under that class."""
        return self._whitened(offsets, c) / self.latent_scale_[c]

    def _unwhitened(self, offsets: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """``A_y^-1 offsets`` row by row, y the rows' classes (see ``latent_whitening_``)."""
        if not self._full_covariance():
            return offsets
        out = offsets.copy()
        for c in np.unique(classes):
            rows = classes == c
            out[rows] = np.linalg.solve(self.latent_whitening_[c], offsets[rows].T).T
        return out

    def _codes(self, classes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Full-width codes: ``class_means_[classes] + offsets`` in the active columns, 0
        (the training value) in the others."""
        Z = np.zeros((len(classes), self.n_features_in_))
        Z[:, self.active_] = self.class_means_[classes] + offsets
        return Z

    def generate(self, labels: Any, temperature: float | None = None,
                 random_state: Any = None, discrete: bool = False) -> np.ndarray:
        """Draw one input per label from the learned density of its class.

        ``z ~ N(mu_y, temperature^2 Sigma_y)`` then ``x = f^-1(z)``.

        Parameters
        ----------
        labels : label or array_like of labels
        temperature : float, optional
            Defaults to the ``temperature`` parameter.
        random_state : int, numpy Generator or None
        discrete : bool, default False
            Floor the dequantised features (``discrete_``) back to integers, the values
            they were dequantised from; by default they stay on the continuous scale the
            density is over.

        Returns
        -------
        ndarray, shape (n_labels, n_features), or (n_features,) for a single label.
        """
        self._check_fitted()
        classes = self._class_indices(np.atleast_1d(labels))
        if classes.ndim != 1:
            raise ValueError(f"labels must be a label or a 1-D sequence, got shape "
                             f"{np.shape(labels)}")
        t = self.temperature if temperature is None else temperature
        if not (isinstance(t, (int, float, np.floating, np.integer)) and math.isfinite(t)
                and t >= 0):
            raise ValueError(f"temperature must be a finite number >= 0, got {t!r}")
        rng = np.random.default_rng(random_state)
        noise = rng.standard_normal((len(classes), self.class_means_.shape[1]))
        offsets = self._unwhitened(t * self.latent_scale_[classes] * noise, classes)
        generated = self._decode(self._codes(classes, offsets), classes)
        self._draw_levels(generated, rng, discrete)
        if discrete:
            generated[:, self.discrete_] = np.floor(generated[:, self.discrete_])
            boxed = self.boxed_  # the box's edges belong to its first and last integers
            generated[:, boxed] = np.clip(generated[:, boxed], self.lower_[boxed],
                                          self.upper_[boxed] - 1)
        return generated[0] if np.ndim(labels) == 0 else generated

    def sample(self, n_samples: int = 1, random_state: Any = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` pairs (x, y) from the model at temperature 1: labels from the
        class frequencies of the training data, inputs from their class's density (as
        ``GaussianMixture.sample``).

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
        y : ndarray, shape (n_samples,)
        """
        self._check_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        rng = np.random.default_rng(random_state)
        prior = np.exp(self.class_log_prior_)
        classes = rng.choice(len(self.classes_), size=n_samples, p=prior / prior.sum())
        labels = self.classes_[classes]
        return self.generate(labels, temperature=1.0, random_state=rng), labels

    def counterfactual(self, X: Any, labels: Any) -> np.ndarray:
        """Each row of X redrawn as another class: its code moves from the mean of its
        predicted class to the mean of the requested one, keeping its offset (the "style")
        as measured in the class's own spread: the offset whitened by the predicted class's
        base (its ``latent_whitening_`` and ``latent_scale_``) is the requested class's too,
        so that a typical member of one class becomes a typical member of the other (with a
        base shared by the classes, the offset itself is kept).

        ``labels`` is one label for every row or one label per row. Integers in
        dequantised features are read at the centre of their cells (as predictions read
        them), so the result is on the dequantised scale.
        """
        X = self._check_X(X)
        X = X + 0.5 * (self.discrete_ & (X == np.round(X)))
        source = np.argmax(self._joint(X), axis=1)
        target = self._class_indices(np.broadcast_to(labels, (len(X),)))
        Z = self.encode(X, self.classes_[source])
        offsets = Z[:, self.active_] - self.class_means_[source]
        standard = np.empty_like(offsets)
        for c in np.unique(source):
            rows = source == c
            standard[rows] = self._standardised(offsets[rows], c)
        offsets = self._unwhitened(self.latent_scale_[target] * standard, target)
        Z[:, self.active_] = self.class_means_[target] + offsets
        return self._decode(Z, target)


def load_file(path: Any, network_class: type[_N]) -> _N | InvertibleClassifier:
    """Whatever a revcore .npz file holds (its ``object``, a network for format versions 1
    and 2), networks built as ``network_class``; nothing is unpickled.

    Raises
    ------
    ValueError
        For a truncated or corrupt file, a newer format version, a missing or unexpected
        key, or arrays of the wrong dtype or shape.
    """
    contents = read_arrays(path)
    where = _where(path)
    if stored_object(contents, where) == InvertibleClassifier.__name__:
        return InvertibleClassifier._from_arrays(contents, where, network_class)
    return network_class._from_file_data(network_from_arrays(contents, where), where)


# -- saving helpers ---------------------------------------------------------------------------


def _optional(value: float | None) -> np.ndarray:
    """A float as a float64 scalar, None as an empty (0,) array."""
    return np.zeros(0) if value is None else np.array(value, dtype=np.float64)


def _param_array(name: str, value: Any) -> np.ndarray:
    """A constructor parameter as a 0-d array (None: an empty (0,) array)."""
    if name == "random_state" and isinstance(value, (np.random.Generator,
                                                     np.random.RandomState)):
        warnings.warn(f"random_state is a {type(value).__name__}, which cannot be saved; "
                      f"it is stored as None", UserWarning, stacklevel=3)
        value = None
    if value is None:
        return np.zeros(0)
    if isinstance(value, (bool, np.bool_)):
        return np.array(bool(value))
    if isinstance(value, (int, np.integer)):
        if not np.iinfo(np.int64).min <= value <= np.iinfo(np.int64).max:
            raise ValueError(f"parameter {name}={value!r} cannot be saved: integers must "
                             f"fit in 64 bits")
        return np.array(value, dtype=np.int64)
    if isinstance(value, (float, np.floating)):
        return np.array(value, dtype=np.float64)
    if isinstance(value, (str, np.dtype)):
        return np.array(str(value))
    raise ValueError(f"parameter {name}={value!r} cannot be saved: only None, bools, "
                     f"numbers and strings can")


def _param_value(where: str, name: str, array: np.ndarray | None) -> Any:
    """The parameter stored by :func:`_param_array`."""
    key = _PARAMS_PREFIX + name
    if array is None:
        raise ValueError(f"{where} is not a complete InvertibleClassifier file: it has no "
                         f"{key!r}")
    if array.shape == (0,) and array.dtype.kind == "f":
        return None
    if array.shape != () or array.dtype.kind not in "biufU":
        raise ValueError(f"{where}: {key} must be a scalar bool, number or string, or an "
                         f"empty float array for None; got shape {array.shape} "
                         f"{array.dtype}")
    return array.item()


def _storable_classes(classes: np.ndarray) -> tuple[np.ndarray, bool]:
    """``classes_`` as an array numpy saves without pickling, and whether it was an object
    array. ValueError for labels that cannot be stored so."""
    if classes.dtype != object:
        if classes.dtype.kind not in _LABEL_KINDS:
            raise ValueError(f"classes_ of dtype {classes.dtype} cannot be saved: labels "
                             f"must be bools, integers, floats or strings")
        return classes, False
    values = classes.tolist()
    types = sorted({type(value).__name__ for value in values})
    if len(types) > 1:
        raise ValueError(f"classes_ mixes label types ({', '.join(types)}) and cannot be "
                         f"saved without pickling: use labels of one type")
    stored = np.array(values)
    if stored.dtype.kind not in _LABEL_KINDS or stored.shape != classes.shape:
        raise ValueError(f"classes_ holds {types[0]} labels, which cannot be saved without "
                         f"pickling: labels must be bools, integers, floats or strings")
    return stored, True


class _Stream:
    """What incremental training carries between calls: the running sums of the
    standardisation and the class counts, the rows seen and their labels while there are
    fewer than ``_STREAM_MAP_ROWS`` (``sample``; None once the maps are kept) and how many
    there were at the last fresh start (``sample_start``), the random
    generator, and (not pickled: rebuilt from the fitted attributes when missing) the model
    and its optimiser."""

    def __init__(self, count: float, total: np.ndarray, squares: np.ndarray,
                 class_counts: np.ndarray, rng: np.random.Generator,
                 model: FlowModel | None = None,
                 sample: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.count, self.total, self.squares = count, total, squares
        self.class_counts, self.rng, self.sample = class_counts, rng, sample
        self.sample_start = 0 if sample is None else len(sample[0])
        self._stepper: Stepper | None = None
        self._model = model

    @classmethod
    def start(cls, clf: InvertibleClassifier, n: int, labels: np.ndarray,
              rng: np.random.Generator, model: FlowModel | None = None,
              sample: tuple[np.ndarray, np.ndarray] | None = None) -> _Stream:
        """The stream after the n rows the maps were fitted on (``sample``, when they are
        to be refitted): the running sums are those of the standardisation they gave
        (``mean_``, and ``scale_`` where it is a spread)."""
        counts = np.bincount(labels, minlength=len(clf.classes_)).astype(np.float64)
        mean, scale = clf.mean_, clf.scale_
        return cls(float(n), n * mean, n * (scale * scale + mean * mean), counts, rng, model,
                   sample)

    def add(self, clf: InvertibleClassifier, X: np.ndarray, labels: np.ndarray) -> None:
        """Count the rows in, and move the standardisation to every row seen so far."""
        self.class_counts = self.class_counts + np.bincount(labels,
                                                            minlength=len(clf.classes_))
        w = clf._boxed(X + clf._noise(len(X), self.rng))[0]
        self.count += len(X)
        self.total = self.total + w.sum(axis=0)
        self.squares = self.squares + (w * w).sum(axis=0)
        mean = self.total / self.count
        variance = np.maximum(self.squares / self.count - mean * mean, 0.0)
        clf.mean_ = mean
        clf.scale_ = np.where(clf.active_ & (variance > 0), np.sqrt(variance), clf.scale_)

    def log_prior(self) -> np.ndarray:
        """The log class frequencies so far (a class not yet seen counts one half)."""
        counts = np.maximum(self.class_counts, 0.5)
        return np.log(counts / counts.sum())

    def stepper(self, clf: InvertibleClassifier) -> Stepper:
        if self._stepper is None:
            model = self._model
            if model is None:  # after fit or unpickling: the fitted parameters
                layers = clf.network_.layers
                scales = np.log(clf.latent_scale_)
                model = FlowModel([layer.kind for layer in layers],
                                  [{k: np.array(v) for k, v in layer.to_arrays()[0].items()}
                                   for layer in layers],
                                  clf.class_means_.copy(), scales,
                                  clf.class_log_prior_.copy(),
                                  bool(np.all(scales == scales[0])),
                                  clf.latent_whitening_.copy() if clf._full_covariance()
                                  else None)
            self._stepper = Stepper(model, float(clf.learning_rate), int(clf.batch_size),
                                    float(clf.classification_weight), Backend())
            self._model = None
        return self._stepper

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_stepper"] = state["_model"] = None
        return state
