"""Operations on the sandbox GitHub's bare repositories with git plumbing: read a path, list a
folder, commit one file, merge two branches. Branch moves use compare-and-swap (`update-ref NEW OLD`),
so a concurrent push is never overwritten.

    repo = BareRepo(home / "github" / "JiwooL0920" / "fleet-infra.git")
    sha = repo.commit_file("main", "README.md", b"hi", message="Add README", author=("Flux", "flux@x"))
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fleetlib.errors import GitError
from fleetlib.gitcli import run_git, run_git_raw


@dataclass(frozen=True)
class Entry:
    mode: str
    kind: str  # blob or tree
    sha: str
    path: str
    size: int


@dataclass(frozen=True)
class BareRepo:
    path: Path

    def init(self, *, branch: str = "main") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        run_git(["init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.path)])
        run_git(["config", "http.receivepack", "true"], cwd=self.path)
        run_git(["config", "uploadpack.allowReachableSHA1InWant", "true"], cwd=self.path)

    def git(self, *args: str, env: dict[str, str] | None = None, input: bytes | None = None) -> str:
        return run_git(list(args), cwd=self.path, env=env, input=input)

    def branch_sha(self, branch: str) -> str | None:
        code, out, _ = run_git_raw(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"], cwd=self.path)
        return out.decode().strip() if code == 0 else None

    def branches(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/")
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def resolve(self, ref: str) -> str | None:
        code, out, _ = run_git_raw(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=self.path)
        return out.decode().strip() if code == 0 else None

    def entry(self, commit: str, path: str) -> Entry | None:
        if not path:
            return Entry("040000", "tree", self.git("rev-parse", f"{commit}^{{tree}}").strip(), "", 0)
        code, out, _ = run_git_raw(["ls-tree", "-l", commit, "--", path.rstrip("/")], cwd=self.path)
        line = out.decode().strip()
        if code != 0 or not line:
            return None
        meta, name = line.split("\t", 1)
        mode, kind, sha, size = meta.split()
        return Entry(mode, kind, sha, name, int(size) if size != "-" else 0)

    def children(self, commit: str, path: str) -> list[Entry]:
        target = f"{commit}:{path.rstrip('/')}" if path else f"{commit}^{{tree}}"
        out = self.git("ls-tree", "-l", target)
        entries = []
        for line in out.splitlines():
            meta, name = line.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(Entry(mode, kind, sha, f"{path.rstrip('/')}/{name}" if path else name,
                                 int(size) if size != "-" else 0))
        return entries

    def blob(self, sha: str) -> bytes:
        code, out, err = run_git_raw(["cat-file", "blob", sha], cwd=self.path)
        if code != 0:
            raise GitError(f"cannot read blob {sha}: {err.decode()[:200]}")
        return out

    def _commit_env(self, author: tuple[str, str]) -> dict[str, str]:
        name, email = author
        return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
                "GIT_COMMITTER_EMAIL": email}

    def commit_file(self, branch: str, path: str, content: bytes, *, message: str, author: tuple[str, str],
                    parent: str | None = None) -> str:
        """Commit `content` at `path` on top of `parent` (default: the branch head) and move the branch."""
        return self.commit_files(branch, {path: content}, message=message, author=author, parent=parent)

    def commit_files(self, branch: str, files: dict[str, bytes | None], *, message: str, author: tuple[str, str],
                     parent: str | None = None, when: float | None = None) -> str:
        """One commit writing each path's content, or removing the path (a file or a folder) for None."""
        parent = parent or self.branch_sha(branch)
        fd, index = tempfile.mkstemp(prefix="index-", dir=self.path)
        os.close(fd)
        os.unlink(index)
        try:
            env = {"GIT_INDEX_FILE": index}
            if parent:
                self.git("read-tree", parent, env=env)
            removed = [path for path, content in files.items() if content is None]
            for path in removed:  # no work tree for `git rm`: mode-0 index-info lines drop the entries
                listed = [n for n in self.git("ls-files", "-z", "--", path, env=env).split("\0") if n]
                if listed:
                    info = "".join(f"0 {'0' * 40}\t{n}\n" for n in listed)
                    self.git("update-index", "--index-info", env=env, input=info.encode())
            written = {path: content for path, content in files.items() if content is not None}
            if written:  # two git calls for any number of files: write the blobs, then index them
                with tempfile.TemporaryDirectory(dir=self.path) as tmp:
                    blobs = []
                    for i, content in enumerate(written.values()):
                        blob = os.path.join(tmp, str(i))
                        with open(blob, "wb") as fh:
                            fh.write(content)
                        blobs.append(blob)
                    shas = self.git("hash-object", "-w", "--stdin-paths", input="\n".join(blobs).encode()).split()
                info = "".join(f"100644 {sha}\t{path}\n" for path, sha in zip(written, shas, strict=True))
                self.git("update-index", "--add", "--index-info", env=env, input=info.encode())
            tree = self.git("write-tree", env=env).strip()
        finally:
            if os.path.exists(index):
                os.unlink(index)
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        env = self._commit_env(author)
        if when is not None:  # a commit dated in the past (its author and committer dates), epoch seconds
            env.update({"GIT_AUTHOR_DATE": f"@{int(when)} +0000", "GIT_COMMITTER_DATE": f"@{int(when)} +0000"})
        commit = self.git(*args, env=env).strip()
        self.move_branch(branch, commit, parent)
        return commit

    def move_branch(self, branch: str, new: str, old: str | None) -> None:
        """Point the branch at `new` only if it still points at `old` (None: only if it does not exist)."""
        expected = old or "0" * 40
        code, _, err = run_git_raw(["update-ref", f"refs/heads/{branch}", new, expected], cwd=self.path)
        if code != 0:
            raise GitError(f"branch {branch} moved while writing: {err.decode()[:200]}",
                           hint="fetch the new head and try again")

    def merge(self, base: str, head: str, *, message: str, author: tuple[str, str]) -> str:
        """Merge branch `head` into branch `base` with a merge commit; GitError on a conflict."""
        base_sha, head_sha = self.branch_sha(base), self.branch_sha(head)
        if not base_sha or not head_sha:
            raise GitError(f"branch {base if not base_sha else head} does not exist")
        code, out, _ = run_git_raw(["merge-tree", "--write-tree", base_sha, head_sha], cwd=self.path)
        if code != 0:
            raise GitError("merge conflict")
        tree = out.decode().splitlines()[0].strip()
        commit = self.git("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m", message,
                          env=self._commit_env(author)).strip()
        self.move_branch(base, commit, base_sha)
        return commit
