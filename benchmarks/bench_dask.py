"""Throughput of a fitted InvertibleClassifier over a Dask ``distributed`` cluster.

    python benchmarks/bench_dask.py [--rows 1000000] [--quick] [--repeats 3] [--workers 1 2]

Times ``score_samples`` (revcore.dask.map_rows) and seeded generation (revcore.dask.generate)
on ``--rows`` rows (``--quick``: 100 000) against the same work in this process
(``clf.score_samples(X)``, ``revcore.dask.generate_rows``), all at one kernel thread per
process (``REVCORE_NUM_THREADS=1`` for the workers, through Dask's
``distributed.nanny.pre-spawn-environ``, ``revcore.set_num_threads(1)`` here).
On the cluster, X is persisted on the workers before timing, and results are persisted
there (not gathered), as a pipeline writing its results from the workers would; each row
of the table is the median of ``--repeats`` runs (the cluster's on fresh task keys), and the cluster's results are checked
against the single process's before timing. The classifier: 16 features, 2 classes,
``n_blocks=4, hidden_width=32``, a few epochs on synthetic data (throughput does not depend
on how well it is trained).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def median_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100 000 rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep-trim", action="store_true",
                        help="keep Dask's MALLOC_TRIM_THRESHOLD_ for the workers")
    parser.add_argument("--chunk", type=int, default=8 * 4096, help="rows per block")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows

    import dask
    import dask.array as da
    import distributed
    from dask.graph_manipulation import clone

    # The workers' environment: one kernel thread, and without Dask's default
    # MALLOC_TRIM_THRESHOLD_=65536, which makes every large temporary a fresh mmap (2-4x
    # slower blocks here; --keep-trim measures that).
    environment = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1,
                   "REVCORE_NUM_THREADS": 1}
    if args.keep_trim:
        environment["MALLOC_TRIM_THRESHOLD_"] = 65536
    dask.config.set({"distributed.nanny.pre-spawn-environ": environment})

    import revcore
    import revcore.dask as rd

    revcore.set_num_threads(1)
    rng = np.random.default_rng(0)
    width = 16
    train = np.vstack([rng.normal(-1, 1, (2000, width)), rng.normal(1, 1, (2000, width))])
    clf = revcore.InvertibleClassifier(n_blocks=4, hidden_width=32, max_iter=5,
                                       random_state=0).fit(train, np.repeat([0, 1], 2000))
    X = np.vstack([rng.normal(-1, 1, (rows // 2, width)),
                   rng.normal(1, 1, (rows - rows // 2, width))])
    labels = np.repeat(clf.classes_, [rows // 2, rows - rows // 2])

    expected_scores = clf.score_samples(X)
    expected_rows = rd.generate_rows(clf, labels, seed=1)
    single = {
        "score_samples": median_time(lambda: clf.score_samples(X), args.repeats),
        "generate": median_time(lambda: rd.generate_rows(clf, labels, seed=1), args.repeats),
    }
    results = []
    for n_workers in args.workers:
        with distributed.LocalCluster(n_workers=n_workers, processes=True,
                                      threads_per_worker=1, dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            lazy_X = client.persist(da.from_array(X, chunks=(args.chunk, width)))
            distributed.wait(lazy_X)
            scores = rd.map_rows(clf.score_samples, lazy_X)
            generated = rd.generate(clf, labels, seed=1, chunks=args.chunk)
            assert np.array_equal(client.compute(scores).result(), expected_scores)
            assert np.array_equal(client.compute(generated).result(), expected_rows)

            def persisted(lazy, kept=lazy_X):
                def run():
                    # new keys each time (the data's kept), or the cluster would hand back
                    # the results of the previous run still in its memory
                    done = client.persist(clone(lazy, omit=kept))
                    distributed.wait(done)
                    del done
                return run

            for name, lazy in (("score_samples", scores), ("generate", generated)):
                results.append((name, n_workers, median_time(persisted(lazy), args.repeats)))

    print(f"{rows} rows, {width} features, blocks of {args.chunk} rows, "
          f"median of {args.repeats}, 1 kernel thread per process, "
          f"os.getloadavg() at the end: {os.getloadavg()[0]:.1f}")
    print("| operation | where | time (s) | rows/s | vs 1 process | vs 1 worker |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("score_samples", "generate"):
        base = single[name]
        print(f"| {name} | 1 process | {base:.2f} | {rows / base:,.0f} | 1.00x | - |")
        one_worker = {n: s for op, n, s in results if op == name}.get(1)
        for op, n_workers, seconds in results:
            if op == name:
                versus = "-" if one_worker is None else f"{one_worker / seconds:.2f}x"
                print(f"| {name} | {n_workers} worker process{'es' if n_workers > 1 else ''} "
                      f"| {seconds:.2f} | {rows / seconds:,.0f} | {base / seconds:.2f}x "
                      f"| {versus} |")

if __name__ == "__main__":
    main()
