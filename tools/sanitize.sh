#!/usr/bin/env bash
# Build revcore with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan and run the
# test suite against that build. Fails on any sanitizer report (or test failure).
#
#   tools/sanitize.sh                 # the whole suite
#   tools/sanitize.sh tests/test_lu.py -k solve   # arguments go to pytest
#
# The interpreter is not instrumented, so the ASan runtime is preloaded. Leak detection is off:
# CPython keeps interned objects and arenas alive until exit by design.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/asan"
cd "$root"

python="${PYTHON:-python3}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREVCORE_SANITIZE=ON \
  -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" >/dev/null
cmake --build "$build"

# A package directory that uses the sources' .py files with the sanitized extension.
package="$build/package/revcore"
rm -rf "$build/package"
mkdir -p "$package"
for file in "$root"/python/revcore/*.py "$root"/python/revcore/*.pyi "$root"/python/revcore/py.typed; do
  ln -s "$file" "$package/"
done
ln -s "$(ls "$build"/_core*.so)" "$package/"

# libstdc++ is preloaded with the ASan runtime: python itself does not link it, and ASan's
# __cxa_throw interceptor aborts ("CHECK failed ... real___cxa_throw") when the first C++
# exception comes from a module loaded later (pybind11 modules throw on every error path).
preload="$(${CXX:-c++} -print-file-name=libasan.so) $(${CXX:-c++} -print-file-name=libstdc++.so)"
# Reports go to files (pytest captures the file descriptors of a test that crashes).
reports="$build/reports"
rm -rf "$reports"
mkdir -p "$reports"
status=0
start=$(date +%s)
# PYTHONMALLOC=malloc: Python objects come from malloc, so ASan sees overflows into them too.
env LD_PRELOAD="$preload" PYTHONMALLOC=malloc \
  ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan" \
  PYTHONPATH="$build/package" REVCORE_SANITIZED=1 \
  "$python" -m pytest -q -p no:cacheprovider "${@:-tests}" || status=$?
echo "sanitize.sh: pytest exited with $status after $(( $(date +%s) - start )) s"
if compgen -G "$reports/*" >/dev/null; then
  cat "$reports"/* >&2
  echo "sanitize.sh: sanitizer reports above (also in $reports)" >&2
  exit 1
fi
exit "$status"
