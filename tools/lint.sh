#!/usr/bin/env bash
# Lint: ruff check over the repository, mypy over the package (its files are set in
# pyproject.toml), and clang-format --dry-run over every C++ source under src/ and csrc/.
# Runs all three, reports every finding and exits non-zero if any of them found anything.
# The tools are taken from PATH; the pinned versions are pyproject.toml's "lint" dependency
# group: pip install --group lint
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()

echo "== ruff check"
ruff check . || failed+=(ruff)

echo "== mypy"
mypy || failed+=(mypy)

echo "== clang-format --dry-run --Werror"
mapfile -d '' cxx < <(find src csrc -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z)
if [[ ! -f .clang-format ]]; then
  # Without it clang-format falls back to LLVM's style, which is not the project's.
  echo "no .clang-format at the repository root: the C++ style is undefined"
  failed+=(clang-format)
elif ((${#cxx[@]} == 0)); then
  echo "no C++ sources found under src/ and csrc/"
  failed+=(clang-format)
elif clang-format --style=file --dry-run --Werror "${cxx[@]}"; then
  echo "${#cxx[@]} files formatted"
else
  failed+=(clang-format)
fi

if ((${#failed[@]})); then
  echo "lint: findings from ${failed[*]}" >&2
  exit 1
fi
echo "lint: clean"
