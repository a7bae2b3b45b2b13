"""A small local stand-in for the Hugging Face Hub HTTP API, for push tests.

It implements only the calls huggingface_hub 2.4 makes for `whoami`, `create_repo`,
`create_branch`, `repo_info(revision=...)`, `preupload_lfs_files` / `create_commit` (preupload,
validate-yaml, LFS batch + PUT, NDJSON commit, to a branch or as a pull request), and what
`load_dataset("<org>/<name>")` needs to read a repo back (dataset info, tree, paths-info,
resolve). Faults can be injected: `server.faults.append(("commit", 429))` answers the next
commit with a 429; `("create", "drop")` closes the connection unanswered; `("commit", "lost")`
applies the commit and then closes the connection without its answer; `("commit", "pass")`
lets one through, so that a later one can be faulted. `HubState.echo_auth` makes every error
answer quote the request's Authorization header.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

SHA = "0" * 40


def git_blob_sha1(data: bytes) -> str:
    """Git's object id of a blob (what the Hub reports as a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Branch:
    """One ref: committed files (path -> bytes), which of them are LFS, commits and messages."""

    files: dict[str, bytes] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)
    commits: list[str] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sha(self) -> str:
        return self.commits[-1] if self.commits else SHA

    def copy(self) -> Branch:
        return Branch(dict(self.files), set(self.lfs), list(self.commits), list(self.messages))


@dataclass
class Repo:
    """One repo: its branches (`main` first), pull requests (`refs/pr/N` refs) and visibility."""

    private: bool = False
    branches: dict[str, Branch] = field(default_factory=lambda: {"main": Branch()})
    prs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def main(self) -> Branch:
        return self.branches["main"]

    @property
    def files(self) -> dict[str, bytes]:
        return self.main.files

    @property
    def lfs(self) -> set[str]:
        return self.main.lfs

    @property
    def commits(self) -> list[str]:
        return self.main.commits

    @property
    def sha(self) -> str:
        return self.main.sha


@dataclass
class HubState:
    """Everything the fake Hub knows; tests read and tweak it."""

    token: str
    user: str = "tester"
    orgs: tuple[str, ...] = ("dart-org",)
    lfs_suffixes: tuple[str, ...] = ()
    repos: dict[str, Repo] = field(default_factory=dict)
    lfs_store: dict[str, bytes] = field(default_factory=dict)
    faults: list[tuple[str, int | str]] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    echo_auth: bool = False
    """Every error answer quotes the request's Authorization header, and every answer carries
    it in an `X-HF-Warning` header (as a proxy or a mirror that echoes headers might): the
    token must still appear nowhere on the client's side."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState  # set on the subclass made per server
    base_url: str

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    # ------------------------------------------------------------------ plumbing

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _send(
        self,
        code: int,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict | None = None,
    ) -> None:
        if self.state.echo_auth and code >= 400 and isinstance(payload, dict):
            auth = self.headers.get("Authorization")
            payload = {
                **payload,
                "error": f"{payload.get('error', '')} (got Authorization: {auth})",
            }
        data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.state.echo_auth:  # huggingface_hub logs this header's text as a warning
            self.send_header("X-HF-Warning", f"echo; you sent {self.headers.get('Authorization')}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.state.log.append((self.command, self.path, code))

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.state.token}"

    def _fault(self, key: str) -> bool:
        """Apply the first injected fault for `key`; True when the request was answered."""
        with self.state.lock:
            index = next((i for i, (k, _) in enumerate(self.state.faults) if k == key), None)
            if index is None:
                return False
            action = self.state.faults.pop(index)[1]
        if action == "drop":
            self.close_connection = True
            self.state.log.append((self.command, self.path, 0))
            return True
        if action == "pass":  # let this one through (to fault a later request)
            return False
        if action == "lost":  # applied, but the answer never arrives
            self._lost = True
            return False
        self._send(int(action), {"error": "injected fault"}, headers={"Retry-After": "0"})
        return True

    def _dispatch(self) -> None:
        self._lost = False
        self.state.headers_seen.append(dict(self.headers))
        url = urlparse(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        body = self._body() if self.command in ("POST", "PUT") else b""
        for pattern, name in _ROUTES:
            m = re.fullmatch(pattern, path)
            if m and name.split(":")[0] == self.command:
                key = name.split(":")[1]
                if self._fault(key):
                    return
                if self._lost:
                    real, self.wfile = self.wfile, io.BytesIO()
                    getattr(self, f"h_{key}")(body=body, query=query, **m.groupdict())
                    self.wfile = real
                    self.close_connection = True
                    self.state.log[-1] = (self.command, self.path, 0)
                    return
                getattr(self, f"h_{key}")(body=body, query=query, **m.groupdict())
                return
        self._send(404, {"error": f"not implemented: {self.command} {path}"})

    do_GET = do_POST = do_PUT = do_HEAD = _dispatch

    def _repo(self, repo_id: str, kind: str | None = "datasets") -> Repo | None:
        repo = self.state.repos.get(repo_key(repo_id, kind))
        if repo is None:
            self._send(404, {"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"})
        return repo

    # ------------------------------------------------------------------ endpoints

    def h_whoami(self, **_: Any) -> None:
        if not self._authorized():
            self._send(401, {"error": "Invalid credentials in Authorization header"})
            return
        self._send(
            200,
            {
                "type": "user",
                "name": self.state.user,
                "orgs": [{"name": o, "type": "org"} for o in self.state.orgs],
                "auth": {"type": "access_token", "accessToken": {"role": "write"}},
            },
        )

    def h_create(self, body: bytes, **_: Any) -> None:
        if not self._authorized():
            self._send(401, {"error": "Invalid credentials"})
            return
        req = json.loads(body)
        ns = req.get("organization") or self.state.user
        repo_id = f"{ns}/{req['name']}"
        kind = "datasets" if req.get("type") == "dataset" else "models"
        if ns != self.state.user and ns not in self.state.orgs:
            self._send(403, {"error": f"You don't have the rights to create a repo under {ns}"})
            return
        url = f"{self.base_url}/{'datasets/' if kind == 'datasets' else ''}{repo_id}"
        with self.state.lock:
            if repo_key(repo_id, kind) in self.state.repos:
                self._send(409, {"error": "You already created this repo", "url": url})
                return
            private = bool(req.get("private")) or req.get("visibility") == "private"
            self.state.repos[repo_key(repo_id, kind)] = Repo(private=private)
        self._send(200, {"url": url, "name": repo_id})

    def h_validate_yaml(self, body: bytes, **_: Any) -> None:
        req = json.loads(body or b"{}")
        errors = validate_card(req.get("content", ""), req.get("repoType", "model"))
        self._send(
            400 if errors else 200,
            {"errors": [{"message": e} for e in errors], "warnings": []},
            headers={"X-Error-Code": "BadRequest"} if errors else None,
        )

    def _branch(self, repo: Repo, rev: str) -> Branch | None:
        branch = repo.branches.get(rev) or next(
            (b for b in repo.branches.values() if rev == b.sha), None
        )  # a branch name or the commit at its head
        if branch is None:
            self._send(
                404,
                {"error": f"Invalid rev id: {rev}"},
                headers={"X-Error-Code": "RevisionNotFound"},
            )
        return branch

    def h_preupload(self, body: bytes, repo_id: str, kind: str, rev: str, **_: Any) -> None:
        repo = self._repo(repo_id, kind)
        if repo is None:
            return
        branch = self._branch(repo, rev)
        if branch is None:
            return
        files = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(self.state.lfs_suffixes) if self.state.lfs_suffixes else False
            old = branch.files.get(f["path"])
            oid = None
            if old is not None:
                oid = hashlib.sha256(old).hexdigest() if f["path"] in branch.lfs else git_blob_sha1(old)
            files.append(
                {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self._send(200, {"files": files, "commitOid": branch.sha})

    def h_lfs_batch(self, body: bytes, repo_id: str, kind: str | None, **_: Any) -> None:
        if self._repo(repo_id, kind or "models") is None:
            return
        objects = []
        for obj in json.loads(body)["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.lfs_store:
                entry["actions"] = {"upload": {"href": f"{self.base_url}/lfs-upload/{obj['oid']}"}}
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects})

    def h_lfs_put(self, body: bytes, oid: str, **_: Any) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            self._send(400, {"error": "sha256 mismatch"})
            return
        self.state.lfs_store[oid] = body
        self._send(200, {})

    def h_commit(self, body: bytes, repo_id: str, kind: str, rev: str, query: dict, **_: Any) -> None:
        repo = self._repo(repo_id, kind)
        if repo is None:
            return
        if not self._authorized():
            self._send(401, {"error": "Invalid credentials"})
            return
        target = self._branch(repo, rev)
        if target is None:
            return
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"]
        staged: dict[str, bytes] = {}
        lfs: set[str] = set()
        for line in lines[1:]:
            v = line["value"]
            if line["key"] == "file":
                staged[v["path"]] = base64.b64decode(v["content"])
            elif line["key"] == "lfsFile":
                if v["oid"] not in self.state.lfs_store:
                    self._send(400, {"error": f"LFS object {v['oid']} was not uploaded"})
                    return
                staged[v["path"]] = self.state.lfs_store[v["oid"]]
                lfs.add(v["path"])
            else:
                self._send(400, {"error": f"unsupported operation {line['key']}"})
                return
        prefix = f"{self.base_url}/{'datasets/' if kind == 'datasets' else ''}{repo_id}"
        pr_url = None
        with self.state.lock:
            branch = target
            if query.get("create_pr", ["0"])[0] == "1":
                num = len(repo.prs) + 1
                branch = target.copy()
                repo.branches[f"refs/pr/{num}"] = branch
                repo.prs.append(
                    {
                        "num": num,
                        "target": rev,
                        "title": header.get("summary"),
                        "description": header.get("description", ""),
                    }
                )
                pr_url = f"{prefix}/discussions/{num}"
            branch.files.update(staged)
            branch.lfs = (branch.lfs - set(staged)) | lfs
            oid = hashlib.sha1(f"{branch.sha}{sorted(staged)}{len(branch.commits)}{rev}".encode()).hexdigest()
            branch.commits.append(oid)
            branch.messages.append((header.get("summary", ""), header.get("description", "")))
        self._send(200, {"commitUrl": f"{prefix}/commit/{oid}", "commitOid": oid, "pullRequestUrl": pr_url})

    def h_create_branch(self, body: bytes, repo_id: str, kind: str, branch: str, **_: Any) -> None:
        repo = self._repo(repo_id, kind)
        if repo is None:
            return
        if not self._authorized():
            self._send(401, {"error": "Invalid credentials"})
            return
        start = (json.loads(body) if body else {}).get("startingPoint") or "main"
        with self.state.lock:
            if branch in repo.branches:
                self._send(409, {"error": "Reference already exists"})
                return
            repo.branches[branch] = repo.branches[start].copy()
        self._send(200, {})

    # -------------------------------------------------------- reading back

    def _entry(self, repo: Repo, path: str) -> dict[str, Any]:
        data = repo.files[path]
        entry: dict[str, Any] = {
            "type": "file",
            "path": path,
            "size": len(data),
            "oid": git_blob_sha1(data),
        }
        if path in repo.lfs:
            entry["lfs"] = {
                "oid": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": 130,
            }
        return entry

    def h_info(self, repo_id: str, kind: str = "datasets", rev: str | None = None, **_: Any) -> None:
        repo = self._repo(repo_id, kind)
        if repo is None:
            return
        branch = self._branch(repo, rev or "main")
        if branch is None:
            return
        self._send(
            200,
            {
                "_id": repo_id,
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": branch.sha,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "lastModified": "2026-01-01T00:00:00.000Z",
                "createdAt": "2026-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": p} for p in sorted(branch.files)],
            },
        )

    def h_tree(self, repo_id: str, query: dict, rest: str = "", **_: Any) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        rest = rest.strip("/")
        sub = rest.partition("/")[2]  # rest = "<revision>/<path in repo>"
        prefix = f"{sub}/" if sub else ""
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        out: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for path in sorted(repo.files):
            if not path.startswith(prefix):
                continue
            tail = path[len(prefix) :]
            parts = tail.split("/")
            for i in range(1, len(parts)):
                d = prefix + "/".join(parts[:i])
                if (recursive or i == 1) and d not in dirs:
                    dirs.add(d)
                    out.append({"type": "directory", "path": d, "oid": SHA, "size": 0})
            if recursive or len(parts) == 1:
                out.append(self._entry(repo, path))
        if sub and not out:
            self._send(404, {"error": "not found"}, headers={"X-Error-Code": "EntryNotFound"})
            return
        self._send(200, out)

    def h_paths_info(self, body: bytes, repo_id: str, **_: Any) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = json.loads(body).get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        out = []
        for p in paths:
            if p in repo.files:
                out.append(self._entry(repo, p))
            elif any(f.startswith(p.rstrip("/") + "/") for f in repo.files):
                out.append({"type": "directory", "path": p, "oid": SHA, "size": 0})
        self._send(200, out)

    def h_resolve(self, repo_id: str, path: str, **_: Any) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        data = repo.files.get(path)
        if data is None:
            self._send(404, {"error": "Entry not found"}, headers={"X-Error-Code": "EntryNotFound"})
            return
        etag = hashlib.sha256(data).hexdigest() if path in repo.lfs else git_blob_sha1(data)
        self._send(
            200,
            raw=data,
            headers={
                "ETag": f'"{etag}"',
                "X-Repo-Commit": repo.sha,
                "X-Linked-Etag": f'"{etag}"',
                "X-Linked-Size": str(len(data)),
                "Accept-Ranges": "bytes",
            },
        )


METADATA_SNAPSHOT = Path(__file__).parent / "data" / "hub_metadata.json"
"""The Hub's documented licence ids, size categories and task categories (sources inside)."""


def validate_card(content: str, repo_type: str = "dataset") -> list[str]:
    """What the Hub would refuse in a README's YAML metadata, as messages (empty: valid).

    Checked against `METADATA_SNAPSHOT`: every `license` id (with `license_name` when it is
    `other`), every `size_categories` and `task_categories` value of a dataset card, and a
    model card's `pipeline_tag`.
    """
    import yaml

    lists = {
        k: set(v["values"])
        for k, v in json.loads(METADATA_SNAPSHOT.read_text()).items()
        if isinstance(v, dict)
    }
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.S)
    if not m:
        return []
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        return [f"invalid YAML: {exc}"]
    if not isinstance(meta, dict):
        return ["the metadata must be a mapping"]

    def values(key: str) -> list[Any]:
        value = meta.get(key)
        return [] if value is None else value if isinstance(value, list) else [value]

    errors = [
        f'"license" must be one of the Hub licence ids, got {v!r}'
        for v in values("license")
        if v not in lists["licenses"]
    ]
    if "other" in values("license") and not meta.get("license_name"):
        errors.append('"license: other" needs "license_name" (and a LICENSE file or license_link)')
    if repo_type == "dataset":
        for key in ("size_categories", "task_categories"):
            errors += [
                f'"{key}" value {v!r} is not one of the Hub\'s' for v in values(key) if v not in lists[key]
            ]
    elif meta.get("pipeline_tag") is not None and meta["pipeline_tag"] not in lists["task_categories"]:
        errors.append(f'"pipeline_tag" {meta["pipeline_tag"]!r} is not one of the Hub\'s tasks')
    return errors


def repo_key(repo_id: str, kind: str | None) -> str:
    """Key of a repo in `HubState.repos`: dataset repos by id, model repos as `models/<id>`."""
    return repo_id if kind == "datasets" else f"models/{repo_id}"


_REPO = r"(?P<repo_id>[\w.-]+/[\w.-]+)"
_ROUTES: list[tuple[str, str]] = [
    (r"/api/whoami-v2", "GET:whoami"),
    (r"/api/repos/create", "POST:create"),
    (r"/api/validate-yaml", "POST:validate_yaml"),
    (rf"/api/(?P<kind>datasets|models)/{_REPO}/preupload/(?P<rev>.+)", "POST:preupload"),
    (rf"/api/(?P<kind>datasets|models)/{_REPO}/commit/(?P<rev>.+)", "POST:commit"),
    (rf"/api/(?P<kind>datasets|models)/{_REPO}/branch/(?P<branch>.+)", "POST:create_branch"),
    (rf"/(?:(?P<kind>datasets)/)?{_REPO}\.git/info/lfs/objects/batch", "POST:lfs_batch"),
    (r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "PUT:lfs_put"),
    (rf"/api/(?P<kind>datasets|models)/{_REPO}(?:/revision/(?P<rev>.+))?", "GET:info"),
    (rf"/api/datasets/{_REPO}/tree/(?P<rest>.*)", "GET:tree"),
    (rf"/api/datasets/{_REPO}/paths-info/(?P<rev>[^/]+)", "POST:paths_info"),
    (rf"/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "GET:resolve"),
    (rf"/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "HEAD:resolve"),
]


@contextmanager
def fake_hub(token: str, **kwargs: Any) -> Iterator[tuple[str, HubState]]:
    """Run the fake Hub on a free local port; yields (base URL, state)."""
    state = HubState(token=token, **kwargs)
    handler: type[_Handler] = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    handler.base_url = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, state
    finally:
        server.shutdown()
        server.server_close()
