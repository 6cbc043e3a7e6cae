"""Incremental training against fit on the whole: accuracy and test log-likelihood.

    python benchmarks/bench_partial_fit.py [--datasets wine breast_cancer digits]
        [--chunks 10] [--max-passes 40] [--patience 5] [--seed 0]

Protocol, per dataset (scikit-learn's wine, breast cancer, digits):
- 75/25 stratified split, ``random_state=0``. Log-likelihoods are per feature, on the test
  rows dequantised once (``x + u``, u ~ U[0, 1) in the integer-valued features, seed 0), as
  in ``bench_generative.py``.
- ``fit``: ``InvertibleClassifier(random_state=seed).fit`` on the training part, with its
  default early stopping on 20% of it.
- ``partial_fit``, as a user streaming the data would run it: the same 20% held out
  (``train_test_split(..., test_size=0.2, stratify=y, random_state=0)``), the other 80%
  cut into ``--chunks`` chunks (a seeded permutation), passes over the chunks one
  ``partial_fit`` call each; after every pass the held-out rows' mean log-likelihood is
  measured and the model is kept (pickled) when it is the best so far; the passes stop
  after ``--patience`` passes without improvement. The kept model is scored.
- A row with a value outside the box of a feature mapped through the box logit (see
  ``InvertibleClassifier``'s ``logit``) has log-likelihood -inf: means are taken over the
  other rows, and the table counts the test rows left out (``out``).
"""

from __future__ import annotations

import argparse
import pickle
import time

import numpy as np


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loader = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer,
              "digits": datasets.load_digits}[name]
    return loader(return_X_y=True)


def mean_finite(values: np.ndarray) -> tuple[float, int]:
    """The mean of the finite values, and how many were left out."""
    finite = np.isfinite(values)
    return float(values[finite].mean()), int((~finite).sum())


def figures(model, X_test, y_test, X_test_u) -> tuple[float, float, int]:
    """Test accuracy, mean log-likelihood per feature (finite rows) and rows left out."""
    ll, out = mean_finite(model.score_samples(X_test_u))
    return model.score(X_test, y_test), ll / X_test.shape[1], out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["wine", "breast_cancer", "digits"])
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--max-passes", type=int, default=40)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.model_selection import train_test_split

    import revcore

    rows = []
    for name in args.datasets:
        X, y = load(name)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                            random_state=0)
        integer = np.all(X == np.round(X), axis=0)
        noise = np.random.default_rng(0)
        X_test_u = X_test + noise.random(X_test.shape) * integer


        start = time.perf_counter()
        whole = revcore.InvertibleClassifier(random_state=args.seed).fit(X_train, y_train)
        fit_seconds = time.perf_counter() - start

        X_fit, X_val, y_fit, _ = train_test_split(X_train, y_train, test_size=0.2,
                                                      stratify=y_train, random_state=0)
        X_val_u = X_val + noise.random(X_val.shape) * integer
        order = np.random.default_rng(args.seed + 1).permutation(len(X_fit))
        chunks = np.array_split(order, args.chunks)
        clf = revcore.InvertibleClassifier(random_state=args.seed)
        best, kept, best_pass, since = -np.inf, None, 0, 0
        start = time.perf_counter()
        for passes in range(1, args.max_passes + 1):
            for part in chunks:
                clf.partial_fit(X_fit[part], y_fit[part], classes=np.unique(y))
            score = mean_finite(clf.score_samples(X_val_u))[0]
            if score > best:
                best, kept, best_pass, since = score, pickle.dumps(clf), passes, 0
            else:
                since += 1
                if since >= args.patience:
                    break
        stream_seconds = time.perf_counter() - start
        streamed = pickle.loads(kept)
        (fit_acc, fit_ll, fit_out), (acc, ll, out) = (figures(model, X_test, y_test, X_test_u)
                                                  for model in (whole, streamed))
        rows.append((name, fit_acc, acc, fit_ll, ll, f"{fit_out} / {out}", best_pass, passes,
                     fit_seconds, stream_seconds))
        print(f"{name}: done", flush=True)

    print(f"\n{args.chunks} chunks, seed {args.seed}; ll/d on the dequantised test rows")
    print("| data | acc fit | acc partial_fit | gap | ll/d fit | ll/d partial_fit | gap "
          "| out (fit / partial_fit) | kept pass / passes run | fit s | partial_fit s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, fit_acc, acc, fit_ll, ll, out, best_pass, passes, fs, ss in rows:
        print(f"| {name} | {fit_acc:.3f} | {acc:.3f} | {acc - fit_acc:+.3f} | {fit_ll:.3f} "
              f"| {ll:.3f} | {ll - fit_ll:+.3f} | {out} | {best_pass} / {passes} | {fs:.2f} "
              f"| {ss:.2f} |")


if __name__ == "__main__":
    main()
