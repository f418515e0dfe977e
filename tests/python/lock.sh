# shellcheck shell=sh
# Sourced by the venv setup scripts: take_lock DIR NAME holds the directory DIR as a lock until
# the script exits, so that concurrent runs do not build the same venv twice. NAME is the
# script's name for messages.
take_lock() {
    lock=$1
    name=$2
    i=0
    while ! mkdir "$lock" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 600 ]; then
            echo "$name: $lock held for 10 minutes; remove it if no other setup runs" >&2
            exit 1
        fi
        sleep 1
    done
    # shellcheck disable=SC2064 # expand $lock now
    trap "rmdir '$lock'" EXIT INT TERM
}
