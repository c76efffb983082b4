#!/usr/bin/env bash
# Install the project with its dev extras into .venv (what `make install` runs; pyproject.toml pins every package).
#
# With uv (a pinned wheel from PyPI) when it can: it downloads and unpacks in parallel and compiles the bytecode
# on every core (at install, as pip does: with PYTHONDONTWRITEBYTECODE set, as on CI, Python would otherwise compile
# torch & co. again in every process a test starts). pip's own settings (find-links, a constraints file, extra
# indexes; from `pip config` or PIP_* variables) are handed to it, so both pick the same wheels (e.g. a CPU-only torch
# from a local folder). When uv cannot be installed or fails, pip installs, as it always did. SQMY_INSTALLER=pip
# forces pip.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
UV_VERSION=0.13.10

pip_setting() {  # the value pip uses for one setting: its PIP_* variable, else the last of its config files
    local env="PIP_${1^^}"
    env=${env//-/_}
    if [ -n "${!env:-}" ]; then echo "${!env}"; return; fi
    "$venv/bin/pip" config list 2>/dev/null | sed -n "s/^global\.$1='\(.*\)'\$/\1/p" | tail -n 1
}

with_uv() {
    "$venv/bin/pip" install --quiet "uv==$UV_VERSION" || return 1
    local args=() item
    for item in $(pip_setting find-links); do args+=(--find-links "$item"); done
    for item in $(pip_setting constraint); do [ -f "$item" ] && args+=(--constraint "$item"); done
    for item in $(pip_setting index-url); do args+=(--default-index "$item"); done
    for item in $(pip_setting extra-index-url); do  # a local index only where it exists (pip skips it with a warning)
        [[ $item != file://* || -d ${item#file://} ]] && args+=(--index "$item")
    done
    # unsafe-best-match: the best version over all indexes, as pip picks it (uv's default stops at the first index)
    "$venv/bin/uv" pip install --quiet --compile-bytecode --index-strategy unsafe-best-match \
        --python "$venv/bin/python" "${args[@]}" -e ".[dev]"
}

if [ "${SQMY_INSTALLER:-uv}" != pip ] && with_uv; then
    exit 0
fi
echo "uv unavailable or failed: installing with pip" >&2
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -e ".[dev]"
