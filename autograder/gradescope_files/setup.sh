#!/usr/bin/env bash
# Gradescope runs this once, as root and with the network, when it builds the autograder's
# image (Ubuntu 22.04 by default). It installs Python >= 3.11 and the pinned requirements in
# a virtual environment, bubblewrap, the unprivileged user that runs students' code when
# bubblewrap cannot, and the datasets of the graded assignments, so grading never downloads.
# Written by `python -m autograder gradescope-zip`; the assignments are fixed at that time.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV=/opt/dlcourse-venv   # outside the source folder: the worker's user must read Python
ASSIGNMENTS=(@ASSIGNMENTS@)
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

apt-get update
apt-get install -y --no-install-recommends bubblewrap ca-certificates passwd

# Ubuntu 22.04's python3 is 3.10; the pins need 3.11. Ubuntu's own archive has python3.11
# (universe); the deadsnakes PPA is the fallback if this image's sources lack it.
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PYTHON=python3.11
    if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
        apt-get install -y --no-install-recommends software-properties-common gpg-agent
        add-apt-repository -y ppa:deadsnakes/ppa
        apt-get update
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
    fi
fi
version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
# venv needs ensurepip, packaged apart on Debian and Ubuntu (none for a Python built elsewhere)
apt-get install -y --no-install-recommends "python${version}-venv" || true

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --no-cache-dir --upgrade pip
"$VENV/bin/python" -m pip install --no-cache-dir -r "$SOURCE/requirements.txt"

# The sandbox's "user" mode: user namespaces are off in Gradescope's containers, so students'
# code runs as this user (autograder/sandbox.py).
id -u autograder-worker >/dev/null 2>&1 \
    || useradd --system --no-create-home --shell /usr/sbin/nologin autograder-worker

# Each dataset is downloaded into $SOURCE/datasets/ and verified, and its decoded cache built.
unset DLCOURSE_DATA_DIR
cd "$SOURCE"
"$VENV/bin/python" -m autograder.gradescope_run datasets "${ASSIGNMENTS[@]}"

# The hidden checks and the datasets: unreadable for the user that runs students' code.
chmod 700 "$SOURCE"
