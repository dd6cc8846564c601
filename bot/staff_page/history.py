"""History of the knowledge folder: every publish is a git commit (the git command, run with
subprocess), author = the staff login.

The folder's own repository is used when it has one. When the folder lies inside another
repository (the project's checkout) the history lives in a separate git dir,
DATA_DIR/knowledge_history.git, with the folder as its work tree, so the project's own
repository is never written. A folder in no repository gets one of its own (`git init`).
Edits made in the files directly are committed first, as their own version, so a publish never
takes credit for them.
"""
from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path

from bot.staff_page import yamlfiles

SEPARATE_GIT_DIR = "knowledge_history.git"
FILES_AUTHOR = ("files", "files@staff-page")
ENTRIES_TRAILER = "Entries:"


class HistoryError(Exception):
    """git failed (its message is for the log, not for staff)."""


def _locate(work: Path, data_dir: Path) -> Path:
    """The git dir for the folder `work` (see the module doc)."""
    if (work / ".git").exists():
        return work / ".git"
    try:
        top = subprocess.run(["git", "-C", str(work), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, env=_env(), timeout=30)
    except OSError as exc:
        raise HistoryError(f"git cannot run: {exc}") from None
    inside_other = top.returncode == 0 and Path(top.stdout.strip()).resolve() != work
    return Path(data_dir).resolve() / SEPARATE_GIT_DIR if inside_other else work / ".git"


def _env(author: tuple[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    name, email = author or FILES_AUTHOR
    env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name,
               GIT_COMMITTER_EMAIL=email, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    return env


def author_of(username: str) -> tuple[str, str]:
    return username, f"{username}@staff-page"


class History:
    """The git history of one knowledge folder. Blocking: call from a thread."""

    def __init__(self, work: Path, data_dir: Path) -> None:
        self.work = Path(work).resolve()
        self.data_dir = Path(data_dir)
        self._git_dir: Path | None = None

    def git(self, *args: str, author: tuple[str, str] | None = None, check: bool = True) -> str:
        if self._git_dir is None:
            self._git_dir = _locate(self.work, self.data_dir)
        cmd = ["git", f"--git-dir={self._git_dir}", f"--work-tree={self.work}", "-c", "core.quotepath=off",
               "-c", "commit.gpgsign=false", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(author), cwd=self.work, timeout=60)
        if check and done.returncode != 0:
            raise HistoryError(f"git {args[0]} failed: {done.stderr.strip()[:300]}")
        return done.stdout

    def ensure(self) -> None:
        """Start the history (with the folder as it is) when there is none yet."""
        if self._git_dir is None:
            self._git_dir = _locate(self.work, self.data_dir)
        if not (self._git_dir / "HEAD").exists():
            self.git("init", "-q")
        if self.git("rev-parse", "--verify", "-q", "HEAD", check=False).strip():
            return
        self.git("add", "-A", "--", ".")
        self.git("commit", "-q", "--allow-empty", "-m", "Starting point")

    def commit_direct_edits(self, message: str) -> str | None:
        """Commit what was edited in the files since the last version (author "files")."""
        self.ensure()
        before = self.entries_at("HEAD")
        self.git("add", "-A", "--", ".")
        if not self.git("diff", "--cached", "--name-only").strip():
            return None
        after = yamlfiles.read_entries(self.work)
        ids = sorted(i for i in set(before) | set(after) if before.get(i) != after.get(i))
        return self._commit(message, ids, FILES_AUTHOR)

    def commit(self, files: list[str], username: str, message: str, ids: list[str]) -> str:
        self.git("add", "--", *files)
        return self._commit(message, ids, author_of(username))

    def _commit(self, message: str, ids: list[str], author: tuple[str, str]) -> str:
        body = f"{message}\n\n{ENTRIES_TRAILER} {', '.join(ids)}" if ids else message
        self.git("commit", "-q", "--allow-empty", "-m", body, author=author)
        return self.git("rev-parse", "HEAD").strip()

    def versions(self, entry: str | None = None) -> list[dict]:
        """Every version, newest first, or those that changed `entry` (and the starting point)."""
        self.ensure()
        raw = self.git("log", "--format=%H%x1f%aI%x1f%an%x1f%s%x1f%b%x1f%P%x1e")
        out = []
        for record in raw.split("\x1e"):
            parts = record.strip("\n").split("\x1f")
            if len(parts) < 6:
                continue
            sha, at, author, subject, body, parents = parts
            ids = [i.strip() for line in body.splitlines() if line.startswith(ENTRIES_TRAILER)
                   for i in line[len(ENTRIES_TRAILER):].split(",") if i.strip()]
            if entry is None or entry in ids or not parents.strip():
                # "first": the starting point (no parent), which the page names in its own words.
                out.append({"commit": sha, "at": at, "author": author, "message": subject, "changed": ids,
                            "first": not parents.strip()})
        return out

    def resolve(self, commit: str) -> str | None:
        """The full id of a version named by `commit` (hex), or None."""
        if not commit or len(commit) > 64 or any(c not in "0123456789abcdef" for c in commit.lower()):
            return None
        found = self.git("rev-parse", "--verify", "-q", f"{commit}^{{commit}}", check=False).strip()
        return found or None

    def entries_at(self, commit: str) -> dict[str, tuple[str, dict]]:
        """Every entry as it was in version `commit`: id -> (file name, entry)."""
        found: dict[str, tuple[str, dict]] = {}
        names = self.git("ls-tree", "--name-only", f"{commit}:faq", check=False).split()
        for name in sorted(n for n in names if n.endswith(".yaml")):
            text = self.git("show", f"{commit}:faq/{name}", check=False)
            try:
                doc = yamlfiles.loads(text)
            except Exception:  # noqa: BLE001 - a broken version has no readable entries
                continue
            for item in yamlfiles.entries_of(doc) or ():
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    found.setdefault(str(item["id"]), (name, yamlfiles.plain(item)))
        return found

    def parent_of(self, commit: str) -> str | None:
        return self.git("rev-parse", "--verify", "-q", f"{commit}^", check=False).strip() or None


# A diff in words -------------------------------------------------------------------------------


def flatten(value, prefix: str = "") -> dict[str, str]:
    """An entry as {field: text}: "answer.sv", "phrasings.sv" (one line per phrasing), "links.0.url"."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {prefix.rstrip("."): "\n".join(value)}
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): "" if value is None else str(value)}


def word_diff(old: dict | None, new: dict | None) -> list[dict]:
    """The fields that differ between two versions of an entry, each as words kept, added, removed."""
    before, after = flatten(old or {}), flatten(new or {})
    out = []
    for name in list(after) + [k for k in before if k not in after]:
        a, b = before.get(name, ""), after.get(name, "")
        if a == b:
            continue
        old_words, new_words = a.split(), b.split()
        words = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False).get_opcodes():
            if op == "equal":
                words.append({"op": "same", "text": " ".join(old_words[i1:i2])})
                continue
            if i2 > i1:
                words.append({"op": "removed", "text": " ".join(old_words[i1:i2])})
            if j2 > j1:
                words.append({"op": "added", "text": " ".join(new_words[j1:j2])})
        out.append({"field": name, "words": words})
    return out
