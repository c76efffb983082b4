#!/usr/bin/env bash
# Type-check the package as it is installed: setuptools maps models/, training/ and service/ into the sqmy
# namespace, which mypy cannot see from the source tree, so a tree of symlinks gives it the installed layout.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=.venv/typecheck-tree
rm -rf "$tree" && mkdir -p "$tree/sqmy"
for entry in sqmy/*; do ln -s "$PWD/$entry" "$tree/sqmy/"; done
for package in models training service; do ln -s "$PWD/$package" "$tree/sqmy/$package"; done
cd "$tree" && exec "$OLDPWD/.venv/bin/mypy" --config-file "$OLDPWD/pyproject.toml" --cache-dir "$OLDPWD/.venv/.mypy_cache" sqmy
