"""Clone a student's repository and check out its last commit before a deadline, safely.

The repository is hostile: git runs with no prompt (a missing repository fails instead of
waiting for a password), a time limit, no hooks, no symbolic links in the checkout, no
submodules and no LFS download, and only the transports a roster may name. A token reaches git
through GIT_CONFIG_* environment variables, never a command line or a URL, and is scrubbed
from every message kept.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

CLONE_TIMEOUT_S = 600.0
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Settings every git command here runs with (-c order: these win over the user's config).
_SAFE_CONFIG = [
    ("core.hooksPath", "/dev/null"),  # a fresh clone has no hooks; make sure none ever runs
    ("core.symlinks", "false"),  # a link in the checkout becomes a small text file
    ("submodule.recurse", "false"),
    ("protocol.ext.allow", "never"),
    ("http.lowSpeedLimit", "1000"),  # a stalled server fails after a minute below 1 kB/s
    ("http.lowSpeedTime", "60"),
    ("advice.detachedHead", "false"),
]
# Inherited variables that would point git at another repository or add configuration.
_DROPPED = re.compile(r"GIT_(DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_"
                      r"DIRECTORIES|CONFIG.*|NAMESPACE|CEILING_DIRECTORIES|COMMON_DIR)")


class CloneError(Exception):
    """The repository could not be cloned or checked out; the message is safe to publish."""


@dataclass(frozen=True)
class Checkout:
    """The commit checked out, or None with the reason (no commit before the deadline)."""

    commit: str | None
    reason: str = ""


@dataclass(frozen=True)
class Credentials:
    """A token sent as an HTTP header to one host's https URLs (GitHub's form)."""

    token: str
    host: str = "github.com"

    def applies_to(self, repository: str) -> bool:
        parts = urlsplit(repository) if repository.startswith("https://") else None
        return parts is not None and (parts.hostname or "").lower() == self.host.lower()

    @property
    def header(self) -> str:
        pair = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        return f"Authorization: Basic {pair}"

    def scrub(self, text: str) -> str:
        """`text` with the token in any form it could take replaced by ***."""
        for secret in sorted({self.header, self.header.split(" ", 2)[2], self.token}, key=len,
                             reverse=True):
            text = text.replace(secret, "***")
        return text


def git_env(repository: str, credentials: Credentials | None) -> dict[str, str]:
    """The environment of every git command for `repository`."""
    env = {k: v for k, v in os.environ.items() if not _DROPPED.fullmatch(k)}
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never", GIT_LFS_SKIP_SMUDGE="1",
               GIT_ALLOW_PROTOCOL="file:git:http:https:ssh")
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")  # no password prompt over ssh
    if credentials and credentials.applies_to(repository):
        # GIT_CONFIG_*: like -c, but in the environment, so `ps` never shows the token.
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                   GIT_CONFIG_VALUE_0=credentials.header)
    return env


def _git(args: list[str], env: dict[str, str], timeout: float,
         credentials: Credentials | None) -> subprocess.CompletedProcess[str]:
    config = [arg for key, value in _SAFE_CONFIG for arg in ("-c", f"{key}={value}")]
    proc = subprocess.Popen(["git", *config, *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # its helper (git-remote-https) ends on the broken pipe
        proc.communicate()
        raise CloneError(f"git {args[0]} took over {timeout:g} s") from None
    if credentials:
        out, err = credentials.scrub(out), credentials.scrub(err)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _reason(stderr: str) -> str:
    """git's last 'fatal:' or 'error:' line (else its last line), one clean line."""
    lines = [_CONTROL.sub(" ", line).strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    chosen = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines
    text = chosen[-1] if chosen else "no message"
    return text if len(text) <= 300 else text[:299] + "…"


def clone_at_deadline(repository: str, dest: Path, deadline: datetime | None, *,
                      credentials: Credentials | None = None,
                      timeout: float = CLONE_TIMEOUT_S) -> Checkout:
    """Clone `repository` into `dest` (replaced) and check out the last commit of its default
    branch's first-parent history whose committer date is at or before `deadline` (or its
    newest commit without one). Raises CloneError with git's reason, credentials scrubbed."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    env = git_env(repository, credentials)
    local = "://" not in repository and not re.match(r"[^/]+@[^/]+:", repository)
    # --no-local: a local path is fetched like a URL, never hard-linked or copied file by file.
    clone = ["clone", "--quiet", "--no-checkout", *(["--no-local"] if local else []),
             "--", repository, str(dest)]
    done = _git(clone, env, timeout, credentials)
    if done.returncode != 0:
        raise CloneError(_reason(done.stderr))
    here = ["-C", str(dest)]
    head = _git([*here, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"], env, 60,
                credentials)
    if head.returncode != 0:
        return Checkout(None, "the repository has no commits on its default branch")
    commit = head.stdout.strip()
    if deadline is not None:
        found = _git([*here, "rev-list", "-n", "1", "--first-parent",
                      f"--before={deadline.isoformat()}", "HEAD"], env, 60, credentials)
        commit = found.stdout.strip()
        if found.returncode != 0 or not commit:
            return Checkout(None, f"no commit on the default branch at or before "
                                  f"{deadline.isoformat()}")
    checkout = _git([*here, "checkout", "--quiet", "--detach", commit], env, timeout,
                    credentials)
    if checkout.returncode != 0:
        raise CloneError("checkout failed: " + _reason(checkout.stderr))
    return Checkout(commit)
