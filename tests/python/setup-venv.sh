#!/bin/sh
# Creates (idempotently) the Python venv with the reference SINETStream 1.10 library that the
# interop tests drive: ${CARGO_TARGET_DIR:-<repo>/target}/python-venv.
# Prints the venv's python interpreter path on the last line of stdout.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
venv=$target/python-venv
py=$venv/bin/python
requirements="sinetstream==1.10.0 sinetstream-iostream==1.10.0 sinetstream-comp-lz4==1.10.0 sinetstream-mqtt==1.10.0 sinetstream-kafka==1.10.0"
stamp=$venv/.sinetstream-requirements

if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ]; then
    echo "$py"
    exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup-venv.sh: $python not found; install Python 3.9+ (with venv) to run the interop tests" >&2
    exit 1
fi

mkdir -p "$target"
# shellcheck source=lock.sh
. "$here/lock.sh"
take_lock "$target/python-venv.lock" setup-venv.sh

if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ]; then
    echo "$py"
    exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv" >&2
# shellcheck disable=SC2086
"$py" -m pip install --disable-pip-version-check --quiet $requirements >&2
"$py" -c "import sinetstream, sinetstreamplugin.iostream, sinetstreamplugin.compression.lz4" >&2
printf '%s' "$requirements" >"$stamp"
echo "$py"
