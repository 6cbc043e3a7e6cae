"""Networks and classifiers over Dask arrays, on one machine or a ``distributed`` cluster.

:func:`map_rows` maps a fitted :class:`~revcore.InvertibleClassifier`'s row-wise methods
(``predict``, ``predict_proba``, ``score_samples``, ``encode``, ``decode``...) or a
:class:`~revcore.Network`'s passes over the row blocks of a Dask array, with the result's
dtype, shape and chunks filled in. The model enters the task graph once, as one key, so each
worker receives it once (its pickle holds parameters only; cached factors are rebuilt on the
worker on first use).

:func:`generate` draws inputs for a sequence of labels over the cluster, reproducibly from
one seed whatever the chunking and the number of workers; :func:`generate_rows` computes the
same rows in this process. Rows are drawn in units of :data:`UNIT_ROWS` rows; unit ``u``'s
random stream is the ``u``-th child of ``numpy.random.SeedSequence(seed)`` (as
``SeedSequence(seed).spawn(u + 1)[u]``), so a row's value depends on its index, its label
and the seed only.

Results are those of the method called once on the whole array, bit for bit: the kernels'
batched paths compute each row alike whatever the batch (of at least 3 rows; one or two rows
take other paths that may round differently), so blocks are merged until each holds at least
:data:`MIN_BLOCK_ROWS` rows.

``import revcore.dask`` needs no Dask; :func:`map_rows` and :func:`generate` import it.

Examples
--------
>>> import numpy as np, dask.array as da, revcore, revcore.dask
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(-2, 1, (60, 2)), rng.normal(2, 1, (60, 2))])
>>> clf = revcore.InvertibleClassifier(n_blocks=2, hidden_width=16, max_iter=30,
...                                    random_state=0).fit(X, np.repeat([0, 1], 60))
>>> lazy = da.from_array(X, chunks=(50, 2))
>>> bool((revcore.dask.map_rows(clf.score_samples, lazy).compute()
...       == clf.score_samples(X)).all())
True
>>> labels = np.repeat(clf.classes_, 1000)
>>> fakes = revcore.dask.generate(clf, labels, seed=42, chunks=700)
>>> bool((fakes.compute() == revcore.dask.generate_rows(clf, labels, seed=42)).all())
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._classifier import InvertibleClassifier
from ._estimator import check_is_fitted
from ._network import Network

__all__ = ["MIN_BLOCK_ROWS", "UNIT_ROWS", "generate", "generate_rows", "map_rows"]

# Rows per random stream of generate(): part of what a seed means, so fixed.
UNIT_ROWS = 4096
# The fewest rows a block is given (see the module's docstring).
MIN_BLOCK_ROWS = 8

_CLASSIFIER_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
                       "score_samples", "encode", "decode")
_NETWORK_METHODS = ("forward", "inverse", "log_abs_det_jacobian")


# -- mapping methods over row blocks --------------------------------------------------------


def _float_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype revcore computes in for inputs of ``dtype`` (see ``as_float_array``)."""
    if dtype.kind in "iu":
        return np.dtype(np.float64)
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        return np.dtype(np.float32) if dtype.itemsize == 2 else dtype
    raise TypeError(f"X must hold real numbers (float32, float64 or integers), got dtype "
                    f"{dtype}")


def _output(owner: Any, name: str, dtype: np.dtype, n_columns: int
            ) -> tuple[np.dtype, int | None]:
    """The result's dtype and number of columns (None: one value per row) of
    ``owner.name`` on rows of ``n_columns`` values of ``dtype``; ValueError when the rows do
    not fit the model."""
    if isinstance(owner, InvertibleClassifier):
        check_is_fitted(owner)
        takes = owner.n_features_in_
        n_classes = len(owner.classes_)
        columns: int | None = {
            "predict": None, "score_samples": None,
            "decision_function": None if n_classes == 2 else n_classes,
            "predict_proba": n_classes, "predict_log_proba": n_classes,
            "encode": takes, "decode": takes,
        }[name]
        result = owner.classes_.dtype if name == "predict" else np.dtype(np.float64)
    else:
        takes = owner.n_outputs if name == "inverse" else owner.n_inputs
        columns = {"forward": owner.n_outputs, "inverse": owner.n_inputs,
                   "log_abs_det_jacobian": None}[name]
        result = np.result_type(_float_dtype(dtype), owner.dtype)
    if n_columns != takes:
        raise ValueError(f"X has {n_columns} columns, but {type(owner).__name__}.{name} "
                         f"takes rows of {takes} values")
    return result, columns


def _merged_chunks(chunks: tuple[float, ...]) -> tuple[float, ...]:
    """Row chunks merged with their neighbours until each has at least MIN_BLOCK_ROWS rows
    (or all the rows, when there are fewer); unknown sizes (NaN) are left as they are."""
    if any(math.isnan(c) for c in chunks) or all(c >= MIN_BLOCK_ROWS for c in chunks):
        return chunks
    merged: list[float] = []
    pending = 0.0
    for c in chunks:
        pending += c
        if pending >= MIN_BLOCK_ROWS:
            merged.append(pending)
            pending = 0
    if pending or not merged:
        if merged:
            merged[-1] += pending
        else:
            merged.append(pending)
    return tuple(int(c) for c in merged)


def _model(owner: Any) -> Any:
    """The model as one key of the task graph (named after its contents)."""
    import dask

    return dask.delayed(owner, pure=True, traverse=False)


def _apply(block: np.ndarray, model: Any, name: str, kwargs: dict[str, Any]) -> np.ndarray:
    return getattr(model, name)(block, **kwargs)


def map_rows(method: Any, X: Any, **kwargs: Any) -> Any:
    """``method(X)`` computed block by block of rows, as a Dask array.

    Parameters
    ----------
    method : bound method
        Of a fitted :class:`~revcore.InvertibleClassifier`: ``predict``, ``predict_proba``,
        ``predict_log_proba``, ``decision_function``, ``score_samples``, ``encode`` or
        ``decode``; or of a :class:`~revcore.Network`: ``forward``, ``inverse`` (not with
        ``return_info``) or ``log_abs_det_jacobian``. A network stands for its ``forward``.
    X : dask array (or array_like), shape (n_samples, n_columns)
        Chunked along the rows as wanted; its columns are brought into one chunk, and row
        chunks of fewer than :data:`MIN_BLOCK_ROWS` rows are merged with their neighbours.
    **kwargs
        Passed to ``method`` (``refine=2`` for ``inverse``, for instance).

    Returns
    -------
    dask array, shape (n_samples,) or (n_samples, n_out)
        Lazy; ``.compute()`` gives ``method(X.compute(), **kwargs)`` bit for bit. Its dtype is
        that of the method's result (``classes_``'s for ``predict``).

    Raises
    ------
    TypeError
        When ``method`` is not one of the above or X is not an array of real numbers.
    ValueError
        When X is not 2-D or its rows do not fit the model (checked before anything runs).
    NotFittedError
        For an unfitted classifier.
    """
    import dask.array as da

    if isinstance(method, Network):
        method = method.forward
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", None)
    known = (_CLASSIFIER_METHODS if isinstance(owner, InvertibleClassifier)
             else _NETWORK_METHODS if isinstance(owner, Network) else ())
    if name == "__call__" and isinstance(owner, Network):
        name = "forward"
    if not isinstance(name, str) or name not in known:
        raise TypeError(
            f"map_rows takes a bound method of an InvertibleClassifier "
            f"({', '.join(_CLASSIFIER_METHODS)}) or of a Network "
            f"({', '.join(_NETWORK_METHODS)}), got {method!r}")
    if kwargs.get("return_info"):
        raise ValueError("map_rows cannot map return_info=True: its result is a pair")
    X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_columns), got shape {X.shape}")
    dtype, columns = _output(owner, name, X.dtype, X.shape[1])
    X = X.rechunk({0: _merged_chunks(X.chunks[0]), 1: -1})
    if columns is None:
        return X.map_blocks(_apply, _model(owner), name, kwargs, drop_axis=1,
                            meta=np.empty((0,), dtype))
    return X.map_blocks(_apply, _model(owner), name, kwargs,
                        chunks=(X.chunks[0], (columns,)), meta=np.empty((0, columns), dtype))


# -- seeded generation ----------------------------------------------------------------------


def _seed_sequence(seed: Any) -> np.random.SeedSequence:
    """seed as a SeedSequence: None draws fresh entropy (once, here)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (np.random.Generator, np.random.RandomState, np.random.BitGenerator)):
        raise TypeError(f"seed must be an integer, a sequence of integers, a "
                        f"numpy.random.SeedSequence or None, not a {type(seed).__name__}: "
                        f"a generator's stream cannot be split into reproducible units")
    if isinstance(seed, (bool, np.bool_, float, np.floating)):
        raise TypeError(f"seed must be an integer, a sequence of integers, a "
                        f"numpy.random.SeedSequence or None, got {seed!r}")
    return np.random.SeedSequence(seed)


def _unit_generator(seed: np.random.SeedSequence, unit: int) -> np.random.Generator:
    """Unit ``unit``'s generator: the child ``seed.spawn(unit + 1)[unit]`` (for a
    SeedSequence that has spawned nothing before), made directly."""
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, unit),
                                   pool_size=seed.pool_size)
    return np.random.default_rng(child)


def _labels_vector(labels: Any) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D sequence of labels, got shape {labels.shape}")
    return labels


def generate_rows(estimator: InvertibleClassifier, labels: Any, seed: Any, *,
                  start: int = 0, temperature: float | None = None,
                  discrete: bool = False) -> np.ndarray:
    """Rows ``start, start + 1, ...`` of the seeded generation :func:`generate` runs on a
    cluster, computed in this process: one input per label.

    Row ``i`` (``i >= start``) is row ``i % UNIT_ROWS`` of ``estimator.generate(L,
    temperature, random_state=numpy.random.default_rng(SeedSequence(seed).spawn(u + 1)[u]),
    discrete=discrete)`` with ``u = i // UNIT_ROWS`` and ``L`` the labels of unit ``u``'s
    rows: it depends on its index, its label and the seed only. Parts of units are drawn
    with the preceding rows of their unit (whose values are thrown away), so calls that start
    at a multiple of :data:`UNIT_ROWS` waste nothing.

    Parameters
    ----------
    estimator : fitted InvertibleClassifier
    labels : array_like, shape (n,)
        The label of each row.
    seed : int, sequence of ints or numpy.random.SeedSequence
        The seed of the whole sequence of rows (a SeedSequence that has not spawned
        children yet, if one is given). None draws fresh entropy, so rows from two calls
        do not belong together.
    start : int, default 0
        The index of the first row in the whole sequence.
    temperature : float, optional
        Defaults to the estimator's ``temperature``.
    discrete : bool, default False
        As in :meth:`InvertibleClassifier.generate`.

    Returns
    -------
    ndarray, shape (n, n_features)
    """
    check_is_fitted(estimator)
    labels = _labels_vector(labels)
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"start must be a non-negative integer, got {start!r}")
    sequence = _seed_sequence(seed)
    out = np.empty((len(labels), estimator.n_features_in_))
    done = 0
    while done < len(labels):
        unit, offset = divmod(int(start) + done, UNIT_ROWS)
        take = min(len(labels) - done, UNIT_ROWS - offset)
        stop = offset + take
        # at least MIN_BLOCK_ROWS rows per call, so that each row takes the batched path
        padded = np.repeat(labels[done:done + 1], max(stop, MIN_BLOCK_ROWS))
        padded[offset:stop] = labels[done:done + take]
        drawn = estimator.generate(padded, temperature, random_state=_unit_generator(
            sequence, unit), discrete=discrete)
        out[done:done + take] = drawn[offset:stop]
        done += take
    return out


def _generate_block(labels: np.ndarray, model: InvertibleClassifier,
                    seed: np.random.SeedSequence, temperature: float | None, discrete: bool,
                    block_info: Any = None) -> np.ndarray:
    start = block_info[0]["array-location"][0][0]
    return generate_rows(model, labels, seed, start=start, temperature=temperature,
                         discrete=discrete)


def generate(estimator: InvertibleClassifier, labels: Any, seed: Any, *,
             temperature: float | None = None, discrete: bool = False,
             chunks: Any = 8 * UNIT_ROWS) -> Any:
    """One input drawn per label, as a Dask array computed block by block on the workers;
    reproducible from ``seed`` whatever the chunks and the number of workers.

    ``generate(...).compute()`` equals :func:`generate_rows` with the same estimator,
    labels, seed, temperature and ``discrete``, bit for bit.

    Parameters
    ----------
    estimator : fitted InvertibleClassifier
    labels : array_like or dask array, shape (n,)
        The label of each row, for instance ``numpy.repeat(clf.classes_, n)`` for n rows per
        class. Labels given as an array are checked here.
    seed : int, sequence of ints or numpy.random.SeedSequence
        See :func:`generate_rows`; None draws fresh entropy once, here.
    temperature : float, optional
        Defaults to the estimator's ``temperature``.
    discrete : bool, default False
        As in :meth:`InvertibleClassifier.generate`.
    chunks : int or tuple of ints, default ``8 * UNIT_ROWS``
        Rows per block (a dask chunks specification for the rows). Ignored when ``labels``
        is a dask array, whose chunks are used. Blocks starting at multiples of
        :data:`UNIT_ROWS` waste nothing (see :func:`generate_rows`).

    Returns
    -------
    dask array of float64, shape (n, n_features)
    """
    import dask.array as da

    check_is_fitted(estimator)
    sequence = _seed_sequence(seed)
    if isinstance(labels, da.Array):
        if labels.ndim != 1:
            raise ValueError(f"labels must be a 1-D sequence of labels, got shape "
                             f"{labels.shape}")
        if any(math.isnan(c) for c in labels.chunks[0]):
            raise ValueError("labels has blocks of unknown size: call "
                             "labels.compute_chunk_sizes() first")
        lazy = labels
    else:
        labels = _labels_vector(labels)
        estimator._class_indices(labels)  # unknown labels are refused here, not on a worker
        lazy = da.from_array(labels, chunks=(chunks,))
    lazy = lazy.rechunk({0: _merged_chunks(lazy.chunks[0])})
    width = estimator.n_features_in_
    return lazy.map_blocks(_generate_block, _model(estimator), sequence, temperature,
                           bool(discrete), new_axis=1, chunks=(lazy.chunks[0], (width,)),
                           meta=np.empty((0, width), np.float64))
