"""Real bare git repositories for the commit-file recovery path (no network: file:// URLs)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def bare_repo_with_big_commit(root: Path, files: int) -> tuple[str, str, str, list[str]]:
    """A bare repository: an initial commit, then one that renames a file and adds ``files``
    files. Returns (clone URL, parent sha, big commit sha, added file names). Partial clone
    filters are allowed, as on GitHub."""
    bare = root / f"bare-{files}.git"
    names = [f"vendor/lib/file_{i:04d}.cpp" for i in range(files)]
    stream = [
        "commit refs/heads/main",
        "committer A <a@example.org> 1704067200 +0000",
        "data 4",
        "init",
        "M 100644 inline README",
        "data 6",
        "hello",
        "",
        "commit refs/heads/main",
        "committer A <a@example.org> 1704070800 +0000",
        "data 13",
        "Vendor import",
        "R README README.md",
    ]
    for i, name in enumerate(names):
        body = f"// {i}\nint f{i}();\n\n"
        stream += [f"M 100644 inline {name}", f"data {len(body.encode())}", body]
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=bare, input="\n".join(stream) + "\n", text=True, check=True
    )

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=bare, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("config", "uploadpack.allowFilter", "true")
    git("config", "uploadpack.allowAnySHA1InWant", "true")
    return bare.as_uri(), git("rev-parse", "main^"), git("rev-parse", "main"), names
