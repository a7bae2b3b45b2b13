"""Pushing a staged folder to the Hub as `hf upload` does, retrying only what needs it.

huggingface_hub (2.x) already retries, with its own backoff (`utils.http_backoff`: 5 retries on
network errors and HTTP 408/429/5xx), the pre-upload call and every LFS batch and transfer. It
does not retry `whoami`, `create_repo`, `create_branch`, the README check (`validate-yaml`) or the
commit itself (`_send_commit(retry_on_error=False)`: a lost answer to a commit that landed would
make a second commit or a second pull request). So these steps are retried here, `retries` times
each, and the file uploads are left to huggingface_hub: wrapping them too multiplied the requests
(6 x 6 = 36 pre-upload calls for one refused step with `--retries 5`).

A commit is only repeated when that cannot duplicate it: after an HTTP 408/429/503 answer (the
Hub did not apply it), or after a connection that never opened. After an ambiguous failure
(a dropped connection, HTTP 500/502/504) the files are pre-uploaded again as new
`CommitOperationAdd`s, so the Hub answers afresh which files it has: those the lost commit did
land are left out of the retried commit and nothing is committed twice. A pull request is not
retried after an ambiguous failure (the error names the discussions page to check).

Only huggingface_hub's public API is used (`HfApi.create_repo`, `repo_info`, `create_branch`,
`preupload_lfs_files`, `create_commit`, `CommitOperationAdd`): its operations' private fields
may change with any release.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dart_hf import __version__
from dart_hf.errors import DartError
from dart_hf.hub.folder import README, check_hub_folder, staged_files

if TYPE_CHECKING:
    from huggingface_hub import CommitOperationAdd

logger = logging.getLogger(__name__)

RETRY_STATUS = (408, 429, 500, 502, 503, 504)
AMBIGUOUS_STATUS = (500, 502, 504)
"""Answers after which the Hub may still have applied the request."""
BACKOFF_CAP_S = 8.0
"""Longest backoff wait, as huggingface_hub's `http_backoff` (a `Retry-After` may ask longer)."""

T = TypeVar("T")
OnRetry = Callable[[str, BaseException], None]


def library_version() -> str:
    """dart-hf's version, for the User-Agent the Hub sees (`dart-hf/<version>`)."""
    return __version__


# --------------------------------------------------------------------------- errors


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """The error and its causes (huggingface_hub wraps some upload errors in RuntimeError)."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(every transport error class, those raised before a request was sent)."""
    transport: list[type[BaseException]] = [ConnectionError, TimeoutError]
    connect: list[type[BaseException]] = [ConnectionRefusedError]
    for name in ("httpx2", "httpx"):  # huggingface_hub 2.x uses httpx2, 1.x httpx
        try:
            module = __import__(name)
        except ImportError:
            continue
        transport.append(module.TransportError)
        connect.append(module.ConnectError)
    return tuple(transport), tuple(connect)


def classify(exc: BaseException) -> tuple[str, int | None]:
    """("http" | "connect" | "transport" | "other", HTTP status) of a failed request."""
    transport, connect = _transport_errors()
    for err in _chain(exc):
        status = _status(err)
        if status is not None:
            return "http", status
        if isinstance(err, connect):
            return "connect", None
        if isinstance(err, transport):
            return "transport", None
    return "other", None


def retryable(exc: BaseException, *, repeatable: bool = True) -> bool:
    """Whether another try may succeed (and, unless `repeatable`, cannot duplicate the effect)."""
    kind, status = classify(exc)
    if kind == "connect":
        return True
    if kind == "transport":
        return repeatable
    if kind == "http" and status in RETRY_STATUS:
        return repeatable or status not in AMBIGUOUS_STATUS
    return False


def ambiguous(exc: BaseException) -> bool:
    """Whether the Hub may have applied a request that failed this way."""
    kind, status = classify(exc)
    return kind == "transport" or (kind == "http" and status in AMBIGUOUS_STATUS)


def describe(exc: BaseException) -> str:
    """One line: `HTTP 503 (message)`, `connection failed (ConnectError: ...)`, or the error."""
    kind, status = classify(exc)
    if kind == "http":
        err = next((e for e in _chain(exc) if _status(e) is not None), exc)
        message = getattr(err, "server_message", None) or ""
        message = message.strip().splitlines()[0] if message.strip() else ""
        if err is not exc:  # huggingface_hub said more (e.g. each README metadata error)
            outer = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            message = outer if not message or message in outer else f"{message}; {outer}"
        return f"HTTP {status}" + (f" ({message[:500]})" if message else "")
    err = next(iter(_chain(exc)))
    for e in _chain(exc):
        if kind in ("connect", "transport") and not isinstance(e, RuntimeError):
            err = e
            break
    text = str(err).splitlines()[0] if str(err) else ""
    name = type(err).__name__
    if kind in ("connect", "transport"):
        return f"connection failed ({name}{': ' + text[:200] if text else ''})"
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return f"{name}{': ' + text[:500] if text else ''}"  # e.g. every README metadata error


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds a `Retry-After` header asks for (delay-seconds or an HTTP date), else None."""
    for err in _chain(exc):
        response = getattr(err, "response", None)
        headers = getattr(response, "headers", None)
        value = headers.get("Retry-After") if headers is not None else None
        if value is None:
            continue
        value = str(value).strip()
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return None


def with_retries(
    what: str,
    fn: Callable[[], T],
    *,
    retries: int,
    backoff_s: float = 1.0,
    max_wait_s: float = 60.0,
    on_retry: OnRetry | None = None,
    repeatable: bool = True,
    before_retry: Callable[[BaseException], None] | None = None,
    scrub: Callable[[str], str] | None = None,
) -> T:
    """Call `fn`; retry it at most `retries` times on network errors and HTTP 408/429/5xx.

    Waits `backoff_s`, doubling, capped at `BACKOFF_CAP_S`, or what a `Retry-After` header
    asks (at most `max_wait_s`). Each retry is logged once, as one warning line.

    Args:
        what: The step's name in messages ("commit", "create_repo").
        fn: The call.
        retries: Retries after the first attempt (0: none).
        backoff_s: First wait.
        max_wait_s: Longest wait a `Retry-After` may impose.
        on_retry: Called with (step, error) before each retry.
        repeatable: False when repeating a call that may have been applied would duplicate it
            (then ambiguous failures are not retried).
        before_retry: Called with the error before each retry (e.g. to refresh state).
        scrub: Applied to the retry warning (removes the token a server may echo).
    """
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if attempt >= retries or not retryable(exc, repeatable=repeatable):
                raise
            asked = retry_after_s(exc)
            cap = min(BACKOFF_CAP_S, max_wait_s)
            wait = min(asked, max_wait_s) if asked is not None else min(backoff_s * 2**attempt, cap)
            line = f"{what}: {describe(exc)}; retry {attempt + 1}/{retries} in {wait:.0f} s"
            logger.warning("%s", scrub(line) if scrub is not None else line)
            if on_retry is not None:
                on_retry(what, exc)
            time.sleep(wait)
            if before_retry is not None:
                before_retry(exc)
            attempt += 1


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


@contextlib.contextmanager
def scrubbed(secrets: Sequence[str | None]) -> Iterator[None]:
    """Within the block, every log record and warning of this process is scrubbed of the
    secrets: ours, huggingface_hub's (its retries quote the server's answer, which a server,
    proxy or mirror may fill with the request's Authorization header) and any library's.

    Log records are scrubbed where they are made (a record factory), so no handler, not even
    one added later (pytest's, an application's file), sees the secret.
    """
    if not any(secret and len(secret) >= 4 for secret in secrets):
        yield
        return
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it itself
            return record
        clean = scrub(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, scrub(text, secrets)
        return record

    show = warnings.showwarning

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        show(scrub(str(message), secrets), category, filename, lineno, file, line)

    logging.setLogRecordFactory(factory)
    warnings.showwarning = showwarning
    try:
        yield
    finally:
        logging.setLogRecordFactory(make)
        warnings.showwarning = show


# --------------------------------------------------------------------------- repo ids


def resolve_repo_id(
    folder: Path, repo_id: str | None, org: str | None, whoami: Callable[[], dict[str, Any]]
) -> str:
    """`ORG/NAME` for a push: explicit id, else `org` or the logged-in user, and the folder name."""
    if repo_id and "/" in repo_id:
        if org:
            raise DartError(f"--org {org!r} conflicts with the full repo id {repo_id!r}")
        ns, _, name = repo_id.partition("/")
    else:
        name = repo_id or Path(folder).resolve().name
        ns = org or str(whoami().get("name") or "")
        if not ns:
            raise DartError("cannot tell the default namespace: the Hub did not return a user name")
    if not ns or not name or "/" in name or not re.match(r"^[\w.-]+$", f"{ns}{name}"):
        raise DartError(f"invalid repo id {ns}/{name!r}: expected ORG/NAME")
    return f"{ns}/{name}"


# --------------------------------------------------------------------------- session


class HubSession:
    """An `HfApi` client (User-Agent `dart-hf/<version>`) and the retry settings of one push.

    Args:
        token: Hub token; None: `HF_TOKEN` or the stored login. Never logged or echoed.
        endpoint: Hub URL; None: `HF_ENDPOINT` read now, else huggingface.co.
        retries: Retries of each step huggingface_hub does not retry itself.
        backoff_s: First backoff wait.
        max_wait_s: Longest wait a `Retry-After` may impose.
        on_retry: Called with (step, error) before each retry.
    """

    def __init__(
        self,
        token: str | None = None,
        endpoint: str | None = None,
        *,
        retries: int = 5,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        on_retry: OnRetry | None = None,
    ) -> None:
        from huggingface_hub import HfApi, get_token
        from huggingface_hub import constants as hf_constants

        if hf_constants.is_offline_mode():
            raise DartError("HF_HUB_OFFLINE is set: unset it to push to the Hub")
        if retries < 0:
            raise DartError(f"retries must be >= 0, got {retries}")
        if not (token or get_token()):
            raise DartError("no Hugging Face token: set HF_TOKEN, run `hf auth login`, or pass --token")
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or hf_constants.ENDPOINT).rstrip("/")
        self.api = HfApi(
            endpoint=self.endpoint,
            token=token,
            library_name="dart-hf",
            library_version=library_version(),
        )
        env = os.environ
        self.secrets = [token, env.get("HF_TOKEN"), env.get("HUGGING_FACE_HUB_TOKEN"), get_token()]
        self.token_source = "--token" if token else "HF_TOKEN" if os.environ.get("HF_TOKEN") else "login"
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.on_retry = on_retry
        self._namespace: str | None = None

    def retry(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        repeatable: bool = True,
        before_retry: Callable[[BaseException], None] | None = None,
    ) -> T:
        return with_retries(
            what,
            fn,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_wait_s=self.max_wait_s,
            on_retry=self.on_retry,
            repeatable=repeatable,
            before_retry=before_retry,
            scrub=self.scrub,
        )

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def scrubbed(self) -> contextlib.AbstractContextManager[None]:
        """Every log line and warning within the block is scrubbed of this session's token."""
        return scrubbed(self.secrets)

    def token_refused(self) -> str:
        """What to do about a token the Hub refused, by where it came from."""
        if self.token_source == "--token":
            return (
                "pass a valid token with --token (or leave --token out to use HF_TOKEN or the stored login)"
            )
        if self.token_source == "HF_TOKEN":
            return "set HF_TOKEN to a valid token (or unset it to use the stored login)"
        return "run `hf auth login` with a valid token, or set HF_TOKEN or pass --token"

    def whoami(self) -> dict[str, Any]:
        """The logged-in user (once per session), or a DartError that says what to do."""
        from huggingface_hub.errors import LocalTokenNotFoundError

        try:
            info = self.retry("whoami", self.api.whoami)
        except LocalTokenNotFoundError:
            raise DartError("no Hugging Face token: set HF_TOKEN or run `hf auth login`") from None
        except Exception as exc:
            raise DartError(self.scrub(self._failure("check the token (whoami)", exc))) from None
        return info

    def namespace(self) -> dict[str, Any]:
        if self._namespace is None:
            self._namespace = str(self.whoami().get("name") or "")
        return {"name": self._namespace}

    def token_origin(self) -> str:
        """Where the session's token came from, as a user would name it."""
        return {"--token": "--token", "HF_TOKEN": "HF_TOKEN"}.get(self.token_source, "the stored login")

    def _failure(self, step: str, exc: BaseException) -> str:
        """One line for a step that failed for good: what happened and what to do."""
        kind, status = classify(exc)
        where = f"the Hub at {self.endpoint}"
        if kind in ("connect", "transport"):
            return (
                f"cannot reach {where} to {step}: {describe(exc)} after {self.retries} retries; "
                "check the network connection or HF_ENDPOINT"
            )
        if status == 401:
            return (
                f"{where} refused the token from {self.token_origin()} ({describe(exc)}): "
                f"{self.token_refused()}"
            )
        if status in RETRY_STATUS:
            return (
                f"{where} failed to {step}: {describe(exc)} after {self.retries} retries; "
                "the Hub may be down or rate-limiting: try again later"
            )
        return f"{where} refused to {step}: {describe(exc)}"


# --------------------------------------------------------------------------- push


def push_folder(
    folder: Path | str,
    repo_id: str | None,
    *,
    org: str | None = None,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    commit_description: str | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    max_wait_s: float = 60.0,
    endpoint: str | None = None,
    on_retry: OnRetry | None = None,
    repo_type: str = "dataset",
    exclude: tuple[str, ...] = (),
    session: HubSession | None = None,
) -> str:
    """Upload a staged release folder as it is to a Hub dataset repo (or a model folder).

    As `hf upload FOLDER`: the repo is created if needed (`exist_ok=True`; `private` applies
    only then), a missing `revision` branch is created (unless `create_pr`), the large files
    are pre-uploaded, and one commit adds every file of the folder, or opens a pull request
    with them (`create_pr`). Files the Hub already has are skipped, so rerunning a failed
    push resumes it. Retries: see the module docstring.

    Args:
        folder: The staged folder (README.md + parquet + images).
        repo_id: `ORG/NAME`, or `NAME` (namespace = `org` or the logged-in user), or None
            (name = the folder's name).
        org: Namespace to use when `repo_id` has none.
        private: Create the repo private (an existing repo keeps its visibility).
        token: Hub token; default `HF_TOKEN` or the stored login. Never logged or echoed.
        revision: Branch to commit to (created from main when missing) or, with `create_pr`,
            the branch the pull request targets [default: main].
        create_pr: Open a pull request instead of committing to the branch.
        commit_message: Defaults to "Upload <folder name> with dart-hf".
        commit_description: The commit's (or pull request's) description.
        retries: Retries of each step huggingface_hub does not retry (repo creation, branch,
            commit); file uploads are retried by huggingface_hub itself.
        backoff_s: First wait; doubles each retry, capped at 8 s.
        max_wait_s: Longest wait a `Retry-After` header may impose.
        endpoint: Hub URL; default `HF_ENDPOINT` read at call time, else huggingface.co.
        on_retry: Called with (step, error) before each retry.
        repo_type: "dataset" (a staged release, checked to be viewer-ready first) or "model"
            (a trained model folder with its card).
        exclude: Path prefixes (POSIX, relative to `folder`) that stay local.
        session: A `HubSession` to share (several pushes ask `whoami` once); then `token`,
            `endpoint`, `retries`, `backoff_s`, `max_wait_s` and `on_retry` are its own.

    Returns:
        The URL of the commit, of the pull request, or of the repo when nothing changed.

    Raises:
        DartError: Missing folder, no token, offline mode, or a push that still failed; the
            message says what was uploaded and what to do. The staged folder is untouched.
    """
    folder = Path(folder)
    if repo_type not in ("dataset", "model"):
        raise DartError(f"unknown repo type {repo_type!r}; valid: dataset, model")
    _refuse_unfinished(folder)
    if not (folder / README).is_file():
        what = "a staged release" if repo_type == "dataset" else "a model folder with a card"
        raise DartError(f"{folder}: not {what} (no README.md)")
    if repo_type == "dataset":
        problems = check_hub_folder(folder)
        if problems:
            raise DartError(f"{folder}: not viewer-ready: " + "; ".join(problems[:5]))
    if commit_message is not None and not commit_message.strip():
        raise DartError("the commit message must not be empty")
    if session is None:
        session = HubSession(
            token,
            endpoint,
            retries=retries,
            backoff_s=backoff_s,
            max_wait_s=max_wait_s,
            on_retry=on_retry,
        )
    with session.scrubbed():
        return _push(
            folder,
            repo_id,
            org=org,
            private=private,
            revision=revision,
            create_pr=create_pr,
            commit_message=commit_message,
            commit_description=commit_description,
            repo_type=repo_type,
            exclude=exclude,
            session=session,
        )


STAGING_DIR = ".staging"
"""Where releases are written before they are moved into `releases/` (`build.STAGING`)."""


def _refuse_unfinished(folder: Path) -> None:
    """Refuse a release that is still being written, or the old copy a move-in left."""
    resolved = folder.resolve()
    if STAGING_DIR in resolved.parts:
        at = resolved.parts.index(STAGING_DIR)
        final = Path(*resolved.parts[:at], *resolved.parts[at + 1 :])
        raise DartError(
            f"{folder} is a release still being staged (releases are written in "
            f"{STAGING_DIR}/ and moved out when complete); push {final} once the build has "
            "finished (rerun the build if it was interrupted)"
        )
    match = re.fullmatch(r"\.(.+)\.old", resolved.name)
    if match:
        raise DartError(
            f"{folder} is the old copy of a replaced release, left by an interrupted move-in; "
            f"push {resolved.with_name(match.group(1))} instead"
        )


def _push(
    folder: Path,
    repo_id: str | None,
    *,
    org: str | None,
    private: bool,
    revision: str | None,
    create_pr: bool,
    commit_message: str | None,
    commit_description: str | None,
    repo_type: str,
    exclude: tuple[str, ...],
    session: HubSession,
) -> str:
    repo = resolve_repo_id(folder, repo_id, org, session.namespace)
    flags = [f"--repo {repo}"]
    flags += [f"--revision {revision}"] if revision else []
    flags += ["--create-pr"] if create_pr else []
    flags += ["--private"] if private else []
    resume = f"dart-hf push {folder} {' '.join(flags)}"
    paths = [p for p in staged_files(folder) if not p.startswith(exclude)]
    return _upload(
        session,
        folder,
        repo,
        repo_type,
        resume,
        paths,
        private=private,
        revision=revision,
        create_pr=create_pr,
        commit_message=commit_message or f"Upload {folder.name} with dart-hf",
        commit_description=commit_description,
    )


def push_folders(
    folders: Sequence[Path | str],
    *,
    org: str | None = None,
    session: HubSession | None = None,
    **kwargs: Any,
) -> list[str]:
    """Push several staged folders in turn (`dart-hf build --push`), each to `<org>/<name>`.

    Stops at the first failure; its DartError names every folder that was not pushed and the
    command that pushes each.

    Returns:
        The URLs, in the order of `folders`.
    """
    session = session or HubSession(
        kwargs.pop("token", None),
        kwargs.pop("endpoint", None),
        retries=kwargs.pop("retries", 5),
        backoff_s=kwargs.pop("backoff_s", 1.0),
        max_wait_s=kwargs.pop("max_wait_s", 60.0),
        on_retry=kwargs.pop("on_retry", None),
    )
    urls: list[str] = []
    for index, folder in enumerate(folders):
        try:
            urls.append(push_folder(folder, None, org=org, session=session, **kwargs))
        except DartError as exc:
            rest = [Path(f) for f in folders[index:]]
            names = ", ".join(f.name for f in rest)
            done = ", ".join(Path(f).name for f in folders[:index]) or "none"
            flag = f" --org {org}" if org else ""
            commands = "; ".join(f"dart-hf push {f}{flag}" for f in rest)
            where = {str(f.parent) for f in rest}
            kept = f" (they are staged in {where.pop()})" if len(where) == 1 else ""
            raise DartError(
                f"{len(rest)} of {len(folders)} releases not pushed ({names}){kept}; pushed: "
                f"{done}. {rest[0].name}: {str(exc).rstrip('.')}. To push the rest: {commands}"
            ) from None
    return urls


def _repo_url(session: HubSession, repo: str, repo_type: str) -> str:
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return f"{session.endpoint}/{prefix}{repo}"


def _operations(folder: Path, paths: Sequence[str]) -> list[CommitOperationAdd]:
    """New upload operations for `paths` (huggingface_hub fills them in as it uploads and
    commits them, so each try after an ambiguous failure starts from new ones)."""
    from huggingface_hub import CommitOperationAdd

    return [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(folder / p)) for p in paths]


def _preupload(
    session: HubSession,
    repo: str,
    repo_type: str,
    ops: Sequence[CommitOperationAdd],
    *,
    revision: str | None,
    create_pr: bool,
) -> list[str]:
    """Upload the large files of `ops` to storage (huggingface_hub retries this itself).

    Returns:
        The paths it uploaded (or found already stored) as large files. With `free_memory`,
        `preupload_lfs_files` replaces the content of each such operation by `b""` (its
        documented effect); the commit needs only their hashes, which the operation keeps.
    """
    session.api.preupload_lfs_files(
        repo,
        additions=ops,
        repo_type=repo_type,
        revision=revision,
        create_pr=create_pr,
        free_memory=True,
    )
    return [op.path_in_repo for op in ops if op.path_or_fileobj == b""]


def _upload(
    session: HubSession,
    folder: Path,
    repo: str,
    repo_type: str,
    resume: str,
    paths: Sequence[str],
    *,
    private: bool,
    revision: str | None,
    create_pr: bool,
    commit_message: str,
    commit_description: str | None,
) -> str:
    """One folder's push: repo, branch, pre-upload, commit, and the message if it fails."""
    api = session.api
    ops = _operations(folder, paths)
    uploaded: list[str] = []  # large files in storage (the last pre-upload's)
    repo_ready = False

    def preupload() -> None:
        nonlocal uploaded
        uploaded = _preupload(session, repo, repo_type, ops, revision=revision, create_pr=create_pr)

    def refresh(exc: BaseException) -> None:
        # The lost commit may have landed: pre-upload new operations, whose upload modes
        # the Hub answers afresh, so files it now has are left out of the commit
        # (create_commit drops them; nothing left: no commit).
        nonlocal ops
        if ambiguous(exc):
            ops = _operations(folder, paths)
            preupload()

    def commit() -> Any:
        return api.create_commit(
            repo,
            operations=ops,
            repo_type=repo_type,
            revision=revision,
            create_pr=create_pr,
            commit_message=commit_message,
            commit_description=commit_description,
        )

    step = "create the repo"
    try:
        session.retry(
            "create_repo",
            lambda: api.create_repo(repo, repo_type=repo_type, private=private, exist_ok=True),
        )
        repo_ready = True
        if private:
            step = "check the repo's visibility"
            _check_private(session, repo, repo_type)
        if revision and not create_pr:
            step = f"create the branch {revision}"
            _ensure_branch(session, repo, repo_type, revision)
        step = "upload the files"
        preupload()
        step = "commit"
        info = session.retry("commit", commit, repeatable=not create_pr, before_retry=refresh)
    except DartError:
        raise
    except Exception as exc:
        message = _upload_failure(
            session,
            folder,
            repo,
            repo_type,
            resume,
            step,
            exc,
            repo_ready=repo_ready,
            uploaded=uploaded,
            create_pr=create_pr,
        )
        raise DartError(session.scrub(message)) from None
    if create_pr and getattr(info, "pr_url", None):
        return str(info.pr_url)
    return str(getattr(info, "commit_url", None) or _repo_url(session, repo, repo_type))


def _check_private(session: HubSession, repo: str, repo_type: str) -> None:
    """Refuse to upload to a public repo when `--private` was asked for.

    `create_repo(private=True, exist_ok=True)` leaves an existing repo as it is, as
    `hf upload --private` does; uploading a dataset meant to be private into a public repo
    would publish it, so nothing is uploaded and the message says how to proceed.
    """
    info = session.retry("repo_info", lambda: session.api.repo_info(repo, repo_type=repo_type))
    if getattr(info, "private", None) is False:
        raise DartError(
            f"{repo} already exists and is public, and --private applies only to a new "
            f"repo: nothing was uploaded. Make it private first (`hf repos settings "
            f"{repo} --private --type {repo_type}`, or its Settings page on the Hub) and rerun, "
            "or leave --private out to publish to the public repo"
        )


def _ensure_branch(session: HubSession, repo: str, repo_type: str, revision: str) -> None:
    from huggingface_hub.errors import RevisionNotFoundError

    api = session.api
    try:
        session.retry("repo_info", lambda: api.repo_info(repo, repo_type=repo_type, revision=revision))
    except RevisionNotFoundError:
        logger.info("branch %s not found in %s: creating it", revision, repo)
        session.retry(
            "create_branch",
            lambda: api.create_branch(repo, branch=revision, repo_type=repo_type, exist_ok=True),
        )


def _upload_failure(
    session: HubSession,
    folder: Path,
    repo: str,
    repo_type: str,
    resume: str,
    step: str,
    exc: BaseException,
    *,
    repo_ready: bool,
    uploaded: Sequence[str],
    create_pr: bool,
) -> str:
    """The one line a failed push ends with: what failed, what is where, what to do."""
    kind, status = classify(exc)
    if not repo_ready:
        state = f"the repo {repo} was not created; nothing was uploaded"
    elif not uploaded:
        state = f"the repo {repo} exists; no file was uploaded or committed"
    else:
        shown = ", ".join(uploaded[:5]) + (", ..." if len(uploaded) > 5 else "")
        state = (
            f"the repo {repo} exists; {len(uploaded)} of {len(uploaded)} large files were "
            f"uploaded to storage ({shown}) but no commit was made, so the repo is unchanged; "
            "a rerun skips them"
        )
    head = f"push of {folder} to {repo} failed to {step}"
    if kind in ("connect", "transport") and not repo_ready:
        return (
            f"{head}: cannot reach the Hub at {session.endpoint} ({describe(exc)}, "
            f"{session.retries} retries); check the network connection or HF_ENDPOINT, "
            f"then rerun: {resume}"
        )
    if step == "commit" and create_pr and ambiguous(exc):
        return (
            f"{head} ({describe(exc)}): the answer was lost, so a pull request may have been "
            f"opened: check {_repo_url(session, repo, repo_type)}/discussions before "
            f"rerunning: {resume}"
        )
    if status == 401:
        remedy = session.token_refused()
        return (
            f"{head}: the Hub refused the token from {session.token_origin()} "
            f"({describe(exc)}); {state}. {remedy[0].upper()}{remedy[1:]}, then rerun: {resume}"
        )
    if status == 403:
        return (
            f"{head}: no write access to {repo} ({describe(exc)}); {state}. Use a token "
            f"with write access there (or another --repo/--org), then rerun: {resume}"
        )
    if kind in ("connect", "transport") or status in RETRY_STATUS:
        return (
            f"{head} ({describe(exc)}, {session.retries} retries): {state}. The folder "
            f"is intact; resume with the same command: {resume}"
        )
    return (
        f"{head}: the Hub refused it ({describe(exc)}); {state}. The folder is intact; fix "
        f"the cause, then rerun: {resume}"
    )
