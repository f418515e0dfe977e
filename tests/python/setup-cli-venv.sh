#!/bin/sh
# Creates (idempotently) the Python venv with the reference SINETStream 1.10 command-line tool
# (`sinetstream_cli`, PyPI `sinetstream-cli`, which needs Python >= 3.12) and its MQTT and Kafka
# plugins: ${CARGO_TARGET_DIR:-<repo>/target}/python-cli-venv. scripts/bench drives it.
#
# The interpreter: $PYTHON_CLI if set, else the first of python3.12, python3.13, python3.14 on
# PATH that runs and is >= 3.12 (pyenv shims of versions not selected fail and are skipped),
# else ~/.pyenv/versions/3.1[2-9]*/bin/python3.
#
# Prints the venv's bin directory on the last line of stdout. Exits 2 (with a message on
# stderr) when no Python >= 3.12 exists, 1 on any other failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
venv=$target/python-cli-venv
bin=$venv/bin
requirements="sinetstream-cli==1.10.0 sinetstream-mqtt==1.10.0 sinetstream-kafka==1.10.0"
stamp=$venv/.sinetstream-cli-requirements

ready() {
    [ -x "$bin/python" ] && [ -x "$bin/sinetstream_cli" ] && [ -f "$stamp" ] &&
        [ "$(cat "$stamp")" = "$requirements" ]
}

if ready; then
    echo "$bin"
    exit 0
fi

# Is $1 a working interpreter of Python >= 3.12?
usable() {
    "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

python=
if [ -n "${PYTHON_CLI:-}" ]; then
    usable "$PYTHON_CLI" || {
        echo "setup-cli-venv.sh: PYTHON_CLI=$PYTHON_CLI is not a working Python >= 3.12" >&2
        exit 2
    }
    python=$PYTHON_CLI
else
    for c in python3.12 python3.13 python3.14; do
        if command -v "$c" >/dev/null 2>&1 && usable "$c"; then
            python=$(command -v "$c")
            break
        fi
    done
    if [ -z "$python" ]; then
        for c in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
            if [ -x "$c" ] && usable "$c"; then
                python=$c
                break
            fi
        done
    fi
fi
if [ -z "$python" ]; then
    echo "setup-cli-venv.sh: no Python >= 3.12 found (sinetstream-cli 1.10 needs it); install" \
        "python3.12 or set PYTHON_CLI=/path/to/python3.12" >&2
    exit 2
fi

mkdir -p "$target"
# shellcheck source=lock.sh
. "$here/lock.sh"
take_lock "$target/python-cli-venv.lock" setup-cli-venv.sh

if ready; then
    echo "$bin"
    exit 0
fi

echo "setup-cli-venv.sh: creating $venv with $python ($("$python" --version 2>&1))" >&2
rm -rf "$venv"
"$python" -m venv "$venv" >&2
# shellcheck disable=SC2086
"$bin/python" -m pip install --disable-pip-version-check --quiet $requirements >&2
"$bin/sinetstream_cli" write --help >/dev/null
"$bin/python" -c "import sinetstream, sinetstreamplugin.mqtt, sinetstreamplugin.kafka" >&2
printf '%s' "$requirements" >"$stamp"
echo "$bin"
