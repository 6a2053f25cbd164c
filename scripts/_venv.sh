# Sourced by scripts/run and scripts/test from the repository root:
# create .venv when it is missing and install the project when pyproject.toml changed.

find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "Python 3.11 or newer is needed (tried python3.11 and python3)." >&2
    return 1
}

# ensure_venv "" installs the app; ensure_venv "[test]" adds the test tools.
ensure_venv() {
    local extras="$1"
    if [ ! -x .venv/bin/python ]; then
        local python
        python="$(find_python)"
        echo "Creating .venv with $python"
        "$python" -m venv .venv
    fi
    local stamp=".venv/.installed${extras:+-test}"
    local wanted
    wanted="$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        echo "Installing unleash-wizard${extras} into .venv"
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras}"
        echo "$wanted" >"$stamp"
    fi
}

# The browser tests drive Debian's chromium; install it when it is missing.
ensure_chromium() {
    if command -v chromium >/dev/null 2>&1; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "The browser tests need Debian's chromium: apt-get install chromium" >&2
            return 1
        fi
        sudo="sudo"
    fi
    echo "Installing chromium for the browser tests"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}
