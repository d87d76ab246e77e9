# shellcheck shell=bash
# Sourced by the scripts that need root (demo.sh, bench/run.sh).
# as_root WHY ARGS...: returns when root; otherwise re-runs the calling script
# through sudo, or, without sudo, says how to run it and exits 1.
as_root() {
    local why=$1 self
    shift
    [[ $EUID -eq 0 ]] && return 0
    self=$(readlink -f "$0")
    if command -v sudo >/dev/null; then exec sudo -E "$self" "$@"; fi
    echo "$(basename "$self") needs root ($why) and sudo is not installed: run it as root," \
        "e.g. su -c $self" >&2
    exit 1
}
