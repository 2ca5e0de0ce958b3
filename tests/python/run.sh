#!/usr/bin/env bash
# Runs the Python partner-platform client against a running gateway.
#
# Installs the pinned packages of requirements.txt into a virtual environment
# (MG_PYTHON_VENV, default target/python-venv), generates the client code from
# proto/ with grpcio-tools, and runs referral_client.py with the arguments given.
# See tests/python/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${MG_PYTHON_VENV:-$repo/target/python-venv}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating a Python environment in $venv" >&2
    "$python" -m venv "$venv"
fi
# A stamp avoids asking the package index again when nothing changed.
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp"; then
    echo "installing $(grep -c '==' "$here/requirements.txt") pinned packages into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi

generated="$(mktemp -d)"
trap 'rm -rf "$generated"' EXIT
mapfile -t protos < <(cd "$repo/proto" && find mediation -name '*.proto' | sort)
(cd "$repo/proto" && "$venv/bin/python" -m grpc_tools.protoc -I . \
    --python_out="$generated" --grpc_python_out="$generated" "${protos[@]}")

PYTHONPATH="$generated" exec "$venv/bin/python" "$here/referral_client.py" "$@"
