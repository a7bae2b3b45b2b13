"""The `dart-hf` command line: a thin click layer over the Python API.

Each command's docstring is its `--help`. User errors (`DartError`) become
`click.ClickException`, never a traceback.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dart_hf import __version__
from dart_hf.errors import DartError


def _then_stop_grading(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(...)`, then this process's grading workers stopped inside the command: at exit
    (`atexit`) a Ctrl-C while they stop was ignored and the command ended with status 0."""
    try:
        return fn(*args, **kwargs)
    finally:
        grading = sys.modules.get("dart_hf.grading.grade")
        if grading is not None:
            grading.shutdown_pools()


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn DartError (and missing files) into a clean click error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return _then_stop_grading(fn, *args, **kwargs)
        except DartError as exc:
            raise click.ClickException(str(exc)) from None
        except FileNotFoundError as exc:
            raise click.ClickException(f"file not found: {exc.filename or exc}") from None
        except OSError as exc:
            from dart_hf.outputs import is_disk_full, read_only_message  # lazy: keeps dart-hf --help fast

            if exc.errno == errno.EROFS:  # any write the commands' own guards did not wrap
                raise click.ClickException(read_only_message(exc.filename or "a file")) from None
            if not is_disk_full(exc):
                raise
            raise click.ClickException(f"disk full: {exc.filename or exc}") from None

    return wrapper


def stream_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options saying how a round's requests go to the engine (they change no output)."""
    fn = click.option(
        "--stream/--no-stream",
        "stream",
        default=None,
        help="Send each round to the engine as one stream, keeping it full (--no-stream: one "
        "blocking engine call per shard, the old path) [default: stream].",
    )(fn)
    fn = click.option(
        "--max-in-flight",
        type=int,
        default=None,
        help="Requests in flight at most [default: the engine's: 256 for vLLM].",
    )(fn)
    return fn


def _no_key_value(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        raise click.UsageError(
            "a key is never given as a value on the command line (it would show in process "
            "lists and shell history): use --api-key-env NAME or --api-key-file PATH"
        )
    return value


SERVER_FLAGS = (
    "base_url",
    "serve",
    "api_key_env",
    "api_key_file",
    "header",
    "ca_bundle",
    "server_max_in_flight",
    "request_retries",
    "retry_max_s",
    "bad_request_limit",
    "request_timeout_s",
    "timeout_per_token_s",
)


def server_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options of a served model: where it is (or which to serve), the key's source, limits."""
    options = [
        click.option(
            "--base-url",
            "base_url",
            multiple=True,
            metavar="URL",
            help="An OpenAI-compatible server (repeatable: the least-loaded gets each "
            "request); selects --engine openai.",
        ),
        click.option(
            "--serve",
            "serve",
            default=None,
            metavar="MODEL",
            help="Start a local vLLM OpenAI server for MODEL (`embedded`, a folder or "
            "a Hub id), sample through it, stop it with the command.",
        ),
        click.option(
            "--api-key-env",
            default=None,
            metavar="NAME",
            help="Environment variable holding the key [default: OPENAI_API_KEY].",
        ),
        click.option("--api-key-file", default=None, metavar="PATH", help="File holding the key."),
        click.option("--api-key", default=None, hidden=True, expose_value=False, callback=_no_key_value),
        click.option(
            "--header",
            "header",
            multiple=True,
            metavar="NAME:VALUE",
            help="Extra header (repeatable); an auth-like one as NAME:env:VAR or NAME:file:PATH.",
        ),
        click.option(
            "--ca-bundle",
            default=None,
            metavar="PATH",
            help="CA bundle to verify TLS against [default: SSL_CERT_FILE, certifi].",
        ),
        click.option(
            "--server-max-in-flight",
            type=int,
            default=None,
            help="Requests in flight per server [default: 256; 32 for a CPU --serve].",
        ),
        click.option(
            "--request-retries",
            type=int,
            default=None,
            help="Retries of a request before the command stops [default: 8].",
        ),
        click.option(
            "--retry-max-s",
            type=float,
            default=None,
            help="Seconds one request may spend retrying [default: 600].",
        ),
        click.option(
            "--bad-request-limit",
            type=int,
            default=None,
            help="Identical HTTP 400s in a row that stop the command [default: 5].",
        ),
        click.option(
            "--request-timeout-s",
            type=float,
            default=None,
            help="Connect timeout and the read timeout's fixed part [default: 60].",
        ),
        click.option(
            "--timeout-per-token-s",
            type=float,
            default=None,
            help="The read timeout's part per requested token [default: 0.2].",
        ),
        click.option(
            "--tokenizer",
            default=None,
            metavar="ID",
            help="Tokenizer that renders prompts for a served model [default: the "
            "served id where it loads locally, else the server renders chat].",
        ),
        click.option(
            "--request-seeds",
            is_flag=True,
            default=None,
            help="Seed every request of a served model (distinct per sample).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def server_settings(options: dict[str, Any]) -> None:
    """Turn the served-model flags into settings in place (None: not given): repeatable
    flags left empty are not given; `--tokenizer`/`--request-seeds` are engine options; a
    URL or `--serve` selects the `openai` engine unless an engine was named."""
    for key in ("base_url", "header"):
        if key in options and not options[key]:
            options[key] = None
    extra = {k: options.pop(k) for k in ("tokenizer", "request_seeds") if k in options}
    extra = {k: v for k, v in extra.items() if v is not None}
    if extra:
        options["engine_options"] = {**(options.get("engine_options") or {}), **extra}
    if (options.get("base_url") or options.get("serve")) and options.get("engine") is None:
        options["engine"] = "openai"


def executor_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options choosing where sampling and grading run (this process, or Ray)."""
    fn = click.option(
        "--tensor-parallel-size",
        "tensor_parallel_size",
        type=int,
        default=None,
        help="GPUs per engine (vLLM's tensor_parallel_size engine option) [default: 1].",
    )(fn)
    fn = click.option(
        "--data-parallel",
        type=int,
        default=None,
        help="Engines, one per device, as Ray actors (starts a local Ray cluster) [default: 1].",
    )(fn)
    fn = click.option(
        "--ray",
        "ray_address",
        is_flag=False,
        flag_value="local",
        default=None,
        help="Run rounds on Ray: --ray alone starts a local cluster, --ray ADDRESS joins one.",
    )(fn)
    return fn


def executor_spec(options: dict[str, Any]) -> Any:
    """Pop the executor options and return an ExecutorSpec (None: run in this process)."""
    from dart_hf.executors import from_flags  # lazy: keeps dart-hf --help fast

    spec, engine_options = from_flags(
        options.pop("ray_address", None),
        options.pop("data_parallel", None),
        options.pop("tensor_parallel_size", None),
    )
    if engine_options:
        options["engine_options"] = {**(options.get("engine_options") or {}), **engine_options}
    return spec


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dart-hf")
def cli() -> None:
    """dart-hf: build DART-Math datasets and evaluate math models with Hugging Face datasets."""


# Commands are defined below, one section per area (grading, sampling, build, release, eval).


# ---------------------------------------------------------------- sources (sources.py)


def _echo_sources(kind: str, data_dir: str | None) -> None:
    import datasets

    from dart_hf.sources import describe_sources, resolve_data_dir  # lazy: keeps dart-hf --help fast

    folder, origin = resolve_data_dir(data_dir)
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a listing, not a job: no bars
    try:
        rows = describe_sources(kind, data_dir=data_dir)
    finally:
        if enabled:
            datasets.enable_progress_bars()
    header = ("name", "rows", "licence", "description")
    table = [header] + [
        (
            r.name,
            "missing" if r.rows is None else str(r.rows),
            r.licence,
            r.description + (f"; {r.note}" if r.note and r.rows is not None else ""),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]).rstrip())
    click.echo(f"\nlocation: {folder} ({origin})")
    for r in rows:
        if r.rows is None:
            click.echo(f"{r.name}: {r.note}", err=True)


@cli.command("pools")
@click.option(
    "--data-dir",
    default=None,
    help="Folder laid out like ../shared/data [default: $DART_HF_DATA_DIR, else the bundled mini data].",
)
@user_errors
def pools_cmd(data_dir: str | None) -> None:
    """List the query pools: rows available where they resolve, licence, description.

    Named pools are read from --data-dir, else $DART_HF_DATA_DIR, else the mini slices
    bundled in the package. A pool whose file is missing is listed as `missing`.
    """
    _echo_sources("pool", data_dir)


@cli.command("benchmarks")
@click.option(
    "--data-dir",
    default=None,
    help="Folder laid out like ../shared/data [default: $DART_HF_DATA_DIR, else the bundled mini data].",
)
@user_errors
def benchmarks_cmd(data_dir: str | None) -> None:
    """List the benchmarks: rows available where they resolve, licence, description.

    Rows are counted after the default exclusions (TheoremQA items that need a picture,
    which is not supplied). Benchmarks are read from --data-dir, else $DART_HF_DATA_DIR,
    else the mini slices bundled in the package.
    """
    _echo_sources("benchmark", data_dir)


# ---------------------------------------------------------------- grading (grading/)


@cli.command("grade")
@click.argument("input_path", metavar="INPUT")
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(),
    help="Output: .jsonl, .parquet or a folder (parquet shards).",
)
@click.option("--response-column", default="response", show_default=True, help="Responses.")
@click.option("--answer-column", default="answer", show_default=True, help="Gold answers.")
@click.option(
    "--benchmark", default=None, help="Force per-benchmark answer handling [default: each row's `source`]."
)
@click.option("--num-proc", type=int, default=1, show_default=True, help="Grading processes.")
@click.option(
    "--timeout-s",
    "timeout_s",
    type=float,
    default=5.0,
    show_default=True,
    help="Hard wall-clock limit per item, in seconds.",
)
@user_errors
def grade_cmd(
    input_path: str,
    out: str,
    response_column: str,
    answer_column: str,
    benchmark: str | None,
    num_proc: int,
    timeout_s: float,
) -> None:
    """Grade responses against gold answers and print a summary.

    INPUT is a JSONL file, a parquet file or a folder of parquet shards with a response column
    and a gold-answer column. Writes every row plus `pred` (extracted answer), `correct`
    (empty when the gold answer cannot be parsed) and `grade_status` (ok, no_answer, timeout,
    error, truncated, bad_gold) to OUT: JSONL or parquet by its suffix, else a folder of
    parquet shards. Rows with `finish_reason` "length" are `truncated` (wrong); accuracy
    leaves out `bad_gold` rows.
    """
    from dart_hf.config import GradeConfig  # lazy: keeps dart-hf --help fast
    from dart_hf.grading.grade import grade_file  # lazy: keeps dart-hf --help fast

    config = GradeConfig(timeout_s=timeout_s, num_proc=num_proc, benchmark=benchmark)
    summary, note = grade_file(
        input_path, out, config, response_column=response_column, answer_column=answer_column
    )
    if note:
        click.echo(f"--{note.replace('_', '-')}", err=True)
    for status, count in summary["counts"].items():
        click.echo(f"{status:<10} {count:>8}")
    click.echo(f"{'rows':<10} {summary['rows']:>8}")
    acc = summary["accuracy"]
    shown = "n/a" if acc is None else f"{100 * acc:.2f}%"
    click.echo(f"accuracy   {shown:>8}  ({summary['correct']}/{summary['graded']}, bad_gold excluded)")
    click.echo(f"wrote {out}")


# ---------------------------------------------------------------- sampling (sampling/)


@cli.command("sample")
@click.option("--pool", default=None, help="Pool name (gsm8k, math) or a JSONL/parquet path.")
@click.option(
    "--data-dir",
    default=None,
    help="Folder laid out like ../shared/data [default: $DART_HF_DATA_DIR, else bundled].",
)
@click.option("--model", default=None, help="Hub id or local folder [default: embedded SmolLM2].")
@click.option(
    "--engine",
    default=None,
    help="vllm, transformers, or openai (a served model: with --base-url or --serve) "
    "[default: vllm; openai where --base-url or --serve is given].",
)
@click.option("--n", type=int, default=None, help="Completions per query [default: 1].")
@click.option("--temperature", type=float, default=None, help="Sampling temperature [1.0].")
@click.option("--top-p", type=float, default=None, help="Nucleus sampling mass [default: 1.0].")
@click.option("--max-tokens", type=int, default=None, help="Maximum new tokens [default: 512].")
@click.option("--template", default=None, help="deepseekmath, alpaca, qa or chat [default: chat].")
@click.option("--limit", type=int, default=None, help="Use only the first Q queries.")
@click.option("--config", "recipe", default=None, help="Recipe name or YAML file with defaults.")
@click.option("--seed", type=int, default=None, help="Base seed [default: 0].")
@click.option("--shard-size", type=int, default=None, help="Queries per shard [default: 64].")
@stream_options
@server_options
@executor_options
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@user_errors
def sample_cmd(recipe: str | None, out: str, **options: Any) -> None:
    """Sample completions for a query pool into resumable parquet shards.

    Writes OUT/shard-XXXXX.parquet (one row per completion: the query columns, sample_idx,
    response, finish_reason, n_tokens, the sampling settings and provenance), OUT/sampling.json
    (settings) and OUT/shards.jsonl (tokens per shard). Rerunning the same command after an
    interruption (even kill -9) continues from the last finished shard. Flags override the
    recipe given with --config. The transformers engine gives identical text for a seed; vLLM
    on CPU does not always.
    """
    from dart_hf.sampling.command import sample_command  # lazy: keeps dart-hf --help fast

    server_settings(options)
    executor = executor_spec(options)
    summary = sample_command(recipe, out, options, executor=executor)
    click.echo(summary)


# ---------------------------------------------------------------- build (build/)


@cli.command("build")
@click.option(
    "--config",
    "recipe",
    default=None,
    help="Recipe: paper, embedded, ci, or a YAML file [default: embedded].",
)
@click.option("--pool", default=None, help="Comma-separated pool names or paths [default: gsm8k,math].")
@click.option("--data-dir", default=None, help="Folder laid out like ../shared/data [default: bundled].")
@click.option("--query-column", default=None, help="Question column of pool files and Hub repos.")
@click.option(
    "--answer-column", default=None, help="Their gold-answer column (optional with --gold majority)."
)
@click.option(
    "--gold",
    type=click.Choice(["answer", "majority"]),
    default=None,
    help="Gold answers: the pool's, or majority votes of the samples for rows without one [default: answer].",
)
@click.option("--model", default=None, help="Hub id or local folder [default: embedded SmolLM2].")
@click.option(
    "--engine",
    default=None,
    help="vllm, transformers, openai (a served model: with --base-url or --serve) or "
    "scripted (a simulation).",
)
@click.option("--strategies", default=None, help="Comma-separated: uniform,prop2diff,vrt.")
@click.option("--k-u", type=int, default=None, help="Uniform: correct responses per query.")
@click.option("--k-p", type=int, default=None, help="Prop2Diff: t = ceil(k_p * fail_rate), >= 1.")
@click.option("--max-trials", type=int, default=None, help="Raw samples per query at most.")
@click.option("--budget", type=int, default=None, help="Raw samples of the whole build at most.")
@click.option("--limit", type=int, default=None, help="Use this many queries (level-stratified).")
@click.option("--seed", type=int, default=None, help="Base seed [default: 0].")
@click.option("--push", is_flag=True, default=None, help="Upload every release after the build.")
@click.option("--org", default=None, help="Hub namespace for --push [default: your user].")
@stream_options
@click.option(
    "--overlap-grading/--no-overlap-grading",
    "overlap_grading",
    default=None,
    help="Grade finished shards while the rest of the round generates [default: on "
    "with more than 2 cores or a served model].",
)
@server_options
@executor_options
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@user_errors
def build_cmd(recipe: str | None, out: str, **options: Any) -> None:
    """Build DART-Math datasets: one DARS pool assembled into every requested release.

    Round 0 estimates each query's fail rate (difficulty phase); later rounds sample only
    unfinished queries, as many per query as the adaptive scheduler asks, until each has its
    target (Uniform: k_u; Prop2Diff: ceil(k_p * fail_rate); VRT: the first vrt_n samples) or
    a stop rule fires (max_trials, budget, low_yield, no_correct). Flags override the recipe;
    the settings used are saved to DIR/recipe.yaml. Rerunning the same command resumes a
    killed build.

    A pool may be any file or Hub dataset with a question column (--query-column; its answers
    with --answer-column). With --gold majority, rows without an answer get the majority
    answer of their first samples as gold (a model vote, said so in the cards; queries without
    a clear majority are left out and counted), and fail rates come from the next round.

    \b
    Writes DIR/releases/{dart-math-uniform,dart-math-hard,vrt,dart-math-pool} (Hub layout
    with cards), DIR/stats.json, DIR/state/ and DIR/rounds/, and prints a statistics table.
    Without --model and --config the `embedded` recipe runs (SmolLM2 on CPU, ~15 min).
    """
    from dart_hf.build.run import resolve_settings, run_build  # lazy: keeps dart-hf --help fast
    from dart_hf.build.stats import format_table  # lazy: keeps dart-hf --help fast
    from dart_hf.recipe import load_recipe  # lazy: keeps dart-hf --help fast

    options["push"] = options["push"] or None  # an absent flag leaves the recipe's choice
    server_settings(options)
    executor = executor_spec(options)
    settings = resolve_settings(load_recipe(recipe or "embedded"), options)
    result = run_build(settings, out, progress=True, executor=executor)
    from dart_hf.hub.folder import empty_splits  # lazy: keeps dart-hf --help fast

    click.echo(format_table(result.stats))
    for name, folder in result.releases.items():
        empty = empty_splits(folder)
        note = (
            f" (empty: {', '.join(empty)} hold no rows; `load_dataset` cannot read an empty "
            "split and push refuses it)"
            if empty
            else ""
        )
        click.echo(f"{name}: {folder}{note}")


@cli.command("regrade")
@click.argument("out", metavar="DIR", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--num-proc", type=int, default=None, help="Grading processes [default: the folder's own setting]."
)
@user_errors
def regrade_cmd(out: str, num_proc: int | None) -> None:
    """Grade every saved sample of a build or evaluation folder again, drawing none.

    For a build (DIR of `dart-hf build`): every raw sample is graded with the current grader,
    the difficulty phase's fail rates, the targets and the stop reasons are recomputed from
    the new verdicts round by round as the build would have, and the releases, stats.json and
    cards are assembled again (current filters and decontamination). Where the new targets
    need samples the build does not have, the command says how many, and `dart-hf build
    --config DIR/recipe.yaml -o DIR` draws them.

    For an evaluation (DIR of `dart-hf eval`): the same as `dart-hf eval --regrade` with the
    settings DIR/results.json records.

    Prints what changed (verdicts flipped each way; rows added and removed per release;
    queries whose target or stop reason changed) and saves it as DIR/regrade.json. A killed
    regrade resumes when rerun; a folder whose raw samples are incomplete is refused.
    """
    from dart_hf.build.regrade import format_report, regrade  # lazy: keeps dart-hf --help fast

    result = regrade(out, num_proc=num_proc, progress=True)
    click.echo(format_report(result.report))
    if result.written:
        click.echo(f"wrote {result.report_file}")
    else:
        click.echo(f"nothing changed: {result.report_file} keeps the last regrade's report")


# ---------------------------------------------------------------- release (hub/)


@cli.command("push")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--repo", default=None, help="ORG/NAME or NAME [default: <user>/<folder name>].")
@click.option("--org", default=None, help="Namespace when --repo has none [default: your user].")
@click.option(
    "--revision",
    default=None,
    help="Branch to commit to, created if missing (with "
    "--create-pr: the branch the pull request targets) [default: main].",
)
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing.")
@click.option(
    "--commit-message", default=None, help="Commit title [default: Upload <folder name> with dart-hf]."
)
@click.option("--commit-description", default=None, help="Commit (or pull request) description.")
@click.option("--private", is_flag=True, help="Create the repo private (a new repo only).")
@click.option(
    "--token", default=None, help="Hub token [default: HF_TOKEN, else the stored login]; never printed."
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Retries of each step huggingface_hub does not retry (token check, repo, "
    "branch, commit) after a network error or HTTP 408/429/5xx; it retries the file "
    "uploads itself.",
)
@user_errors
def push_cmd(folder: str, repo: str | None, **options: Any) -> None:
    """Upload a staged release folder (or a trained model folder) to the Hub, as it is.

    FOLDER is a release staged by `dart-hf build` (e.g. OUT/releases/dart-math-hard):
    README.md with the card, data/*.parquet, images/. As `hf upload`, the repo is created if
    needed and everything goes in one commit (or one pull request with --create-pr), so
    `dart-hf build --push` and this command publish identical repos. A folder written by
    `dart-hf train` goes to a model repo instead (weights, tokenizer, card; checkpoints stay
    local). The token comes from --token, HF_TOKEN or the stored login (`hf auth login`) and
    is never printed. If the push still fails, rerun the same command: files already on the
    Hub are skipped.
    """
    from dart_hf.hub.push import push_folder  # lazy: keeps dart-hf --help fast
    from dart_hf.training.train import RESULTS_FILE, push_model  # lazy: keeps dart-hf --help fast

    push = push_model if (Path(folder) / RESULTS_FILE).is_file() else push_folder
    url = push(folder, repo, **options)
    click.echo(f"pushed: {url}")


# ---------------------------------------------------------------- eval (evaluation/)


def _int_list(text: str | None, what: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise DartError(f"{what} must be comma-separated integers, got {text!r}") from None


def _key_values(pairs: tuple[str, ...], flag: str) -> dict[str, Any] | None:
    """KEY=VALUE flags as a mapping (VALUE read as YAML: numbers, true/false, strings)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DartError(f"{flag} takes KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out or None


@cli.command("eval")
@click.option("--model", default=None, help="Hub id or local folder [default: embedded SmolLM2].")
@click.option(
    "--config",
    "recipe",
    default=None,
    help="Recipe name or YAML: its eval: mapping, model, engine, template, temperature.",
)
@click.option("--benchmarks", default=None, help="Comma-separated benchmarks [default: the six].")
@click.option("--template", default=None, help="Prompt template [default: see above].")
@click.option("--n-shots", type=int, default=None, help="Exemplars per prompt [default: see above].")
@click.option("--limit", type=int, default=None, help="Evaluate the first N items of each benchmark.")
@click.option("--seeds", default=None, help="Comma-separated seeds, e.g. 0,1,2 [default: 0].")
@click.option(
    "--n",
    "n",
    type=int,
    default=None,
    help="Responses per item and seed; > 1 adds pass@k, maj@k [default: 1].",
)
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Sampling temperature [default: 0; the recipe's with --n > 1].",
)
@click.option("--top-p", "top_p", type=float, default=None, help="Nucleus mass when sampling.")
@click.option(
    "--engine",
    default=None,
    help="vllm, transformers, or openai (a served model: with --base-url or --serve) "
    "[default: vllm; openai where --base-url or --serve is given].",
)
@click.option("--max-tokens", type=int, default=None, help="Maximum new tokens [default: 2048].")
@click.option(
    "--data-dir",
    default=None,
    help="Folder laid out like ../shared/data [default: $DART_HF_DATA_DIR, else bundled].",
)
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--push", is_flag=True, help="Upload the predictions dataset and its card.")
@click.option("--repo", default=None, help="ORG/NAME for --push [default: <user>/<folder>].")
@click.option(
    "--engine-option",
    "engine_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Engine option, repeatable (e.g. table=t.parquet for --engine scripted, "
    "enforce_eager=true for vllm); VALUE is read as YAML.",
)
@click.option(
    "--regrade",
    is_flag=True,
    help="Grade the saved samples of -o again with the "
    "current grader and gold answers (after a grader upgrade).",
)
@stream_options
@server_options
@executor_options
@user_errors
def eval_cmd(
    model: str | None,
    recipe: str | None,
    benchmarks: str | None,
    template: str | None,
    n_shots: int | None,
    limit: int | None,
    seeds: str | None,
    n: int | None,
    temperature: float | None,
    top_p: float | None,
    engine: str | None,
    max_tokens: int | None,
    data_dir: str | None,
    out: str,
    push: bool,
    repo: str | None,
    engine_option: tuple[str, ...] = (),
    regrade: bool = False,
    max_in_flight: int | None = None,
    stream: bool | None = None,
    **executor_flags: Any,
) -> None:
    """Evaluate a model on the DART-Math benchmarks with the paper's protocol.

    Benchmarks: math, gsm8k, college_math, deepmind_mathematics, olympiadbench, theoremqa
    (the six; the average is over these) and math500. Greedy decoding, 2048 new tokens,
    final-answer accuracy with the grading stage; a response cut at the limit is wrong.

    Template: chat for the embedded model (an instruct model), deepseekmath for
    DeepSeekMath-7B-RL/Instruct, else alpaca (the DART models' protocol). Base models:
    --template qa, which uses the paper's few-shot exemplars (4 shots, TheoremQA 5) unless
    --n-shots says otherwise.

    --n K samples K responses per item (at --temperature, or the recipe's temperature) and
    reports unbiased pass@k and maj@k for k = 1..K and accuracy +- its standard error over
    items; --n > 1 with greedy decoding is refused.

    Several --seeds only make sense with sampling (greedy runs are identical): they need
    --temperature or a recipe (--config) with a temperature > 0 (used with its top_p).

    Writes DIR/results.json, DIR/results.md, DIR/predictions/ (Hub layout, one config per
    benchmark, with the evaluation card) and DIR/samples/ (sampling shards). Rerunning the
    same command resumes a killed run. --push uploads DIR/predictions.

    --ray / --data-parallel run sampling on Ray engine actors and grading as Ray tasks, as for
    `dart-hf build` (same shards, seeds and verdicts as in this process).
    """
    from dart_hf.evaluation.run import (  # lazy: keeps dart-hf --help fast
        push_results,
        resolve_config,
        resolve_server,
        results_markdown,
        run_eval,
    )
    from dart_hf.recipe import load_recipe  # lazy: keeps dart-hf --help fast

    if repo is not None and not push:
        raise DartError("--repo needs --push")
    overrides = {
        "model": model,
        "benchmarks": benchmarks,
        "template": template,
        "n_shots": n_shots,
        "limit": limit,
        "seeds": _int_list(seeds, "--seeds"),
        "n": n,
        "temperature": temperature,
        "top_p": top_p,
        "engine": engine,
        "max_tokens": max_tokens,
        "data_dir": data_dir,
        "engine_options": _key_values(engine_option, "--engine-option"),
        "max_in_flight": max_in_flight,
        "stream": stream,
        **executor_flags,
    }
    server_settings(overrides)
    executor = executor_spec(overrides)
    loaded = load_recipe(recipe)
    config, spec = resolve_config(loaded, overrides)
    server = resolve_server(loaded, overrides)
    results = run_eval(config, out, engine_spec=spec, regrade=regrade, executor=executor, server=server)
    click.echo(results_markdown(results))
    click.echo(f"results: {out}/results.json, {out}/results.md; predictions: {out}/predictions")
    if push:
        url = push_results(out, repo)
        click.echo(f"pushed: {url}")


# ---------------------------------------------------------------- train (training/)


@cli.command("train")
@click.option(
    "--data",
    default=None,
    help="Hub-layout folder, .parquet/.jsonl file or Hub id with query and response columns.",
)
@click.option("--model", default=None, help="Hub id or local folder [default: embedded SmolLM2].")
@click.option(
    "--config",
    "recipe",
    default=None,
    help="Recipe name (train-mistral-7b, train-embedded, ...) or YAML file.",
)
@click.option("--template", default=None, help="Prompt template [default: alpaca].")
@click.option("--epochs", type=float, default=None, help="Passes over the data [default: 3].")
@click.option("--lr", type=float, default=None, help="Peak learning rate [default: 1e-5].")
@click.option(
    "--batch-size",
    type=int,
    default=None,
    help="Sequences per device per micro-batch [default: 1].",
)
@click.option("--grad-accum", type=int, default=None, help="Micro-batches per optimizer step [default: 64].")
@click.option(
    "--max-length",
    type=int,
    default=None,
    help="Longest (packed) sequence in tokens [default: 4096].",
)
@click.option(
    "--packing/--no-packing",
    default=None,
    help="Pack samples into max-length sequences [default: on].",
)
@click.option("--max-steps", type=int, default=None, help="Stop after N optimizer steps.")
@click.option("--seed", type=int, default=None, help="Seed [default: 0].")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--eval-results",
    type=click.Path(),
    default=None,
    help="results.json of `dart-hf eval` to show in the model card.",
)
@click.option(
    "--card-only",
    is_flag=True,
    help="Only re-render the card of the trained model in --out (with --eval-results).",
)
@click.option("--push", is_flag=True, help="Upload the trained model and its card.")
@click.option("--repo", default=None, help="ORG/NAME of the model repo for --push.")
@click.option("--private", is_flag=True, help="Create the repo private.")
@user_errors
def train_cmd(
    data: str | None,
    recipe: str | None,
    out: str,
    eval_results: str | None,
    card_only: bool,
    push: bool,
    repo: str | None,
    private: bool,
    **overrides: Any,
) -> None:
    """Fine-tune a model on a DART dataset (rejection tuning).

    Full fine-tuning with transformers' Trainer: loss on the response tokens only (prompt
    tokens masked, EOS appended), samples packed into --max-length sequences without
    attending to each other, AdamW with weight decay 0, 3% warmup and a cosine schedule.
    Flags override the recipe; the paper's recipes: train-mistral-7b (lr 1e-5, 3 epochs),
    train-deepseekmath-7b (5e-5, 3), train-llama3-8b (5e-5, 1), train-llama3-70b (2e-5, 1);
    train-embedded and train-ci for SmolLM2 on a CPU.

    \b
    Global batch = --batch-size x --grad-accum x processes. bf16 and gradient checkpointing
    are on with CUDA. Several GPUs: accelerate launch $(which dart-hf) train ...

    Writes DIR/ with the model (safetensors) and tokenizer, train_config.yaml, training.json
    (data statistics, steps, losses, learning rates) and README.md (the model card). With
    save_steps in the recipe, checkpoints go to DIR/checkpoints and rerunning the same command
    resumes from the newest one.
    """
    from dart_hf.recipe import load_recipe  # lazy: keeps dart-hf --help fast
    from dart_hf.training.train import (  # lazy: keeps dart-hf --help fast
        load_eval_results,
        push_model,
        resolve_train_config,
        train,
        write_model_card,
    )

    if push and not repo:
        raise DartError("--push needs --repo ORG/NAME")
    if repo and not push:
        raise DartError("--repo needs --push")
    results = load_eval_results(eval_results) if eval_results else None
    if card_only:
        card = write_model_card(out, eval_results=results)
        click.echo(f"card: {card}")
    else:
        if not data:
            raise DartError("--data is required (a folder, .parquet/.jsonl file or Hub id)")
        config = resolve_train_config(load_recipe(recipe), overrides, where=recipe or "flags")
        summary = train(data, config, out, eval_results=results)
        stats = summary["data_stats"]
        click.echo(
            f"trained {summary['model']['model']} on {stats['samples']} pairs "
            f"({stats['sequences']} sequences, {stats['tokens']} tokens per epoch): "
            f"{summary['steps']} steps, mean loss {summary['train_loss']:.4f}, "
            f"{summary['wall_time_s']:.0f} s"
        )
        click.echo(f"model and card: {out}")
    if push and repo:
        click.echo(f"pushed: {push_model(out, repo, private=private)}")


MAP_JOBS = ("grade", "train")
"""Commands whose work is a datasets map: its bar is their progress bar."""


def _with_verbosity(command: click.Command) -> None:
    """Give `command` -q/--quiet and -v/--verbose (what each shows: `dart_hf.logs`)."""
    from dart_hf import logs  # lazy: keeps dart-hf --help fast

    command.params += [
        click.Option(["-q", "--quiet"], is_flag=True, help="Errors and the final summary only."),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            help="Our INFO logs and the engines' own output (-vv: debug logs).",
        ),
    ]
    callback = command.callback
    if callback is None:
        return

    @functools.wraps(callback)
    def run(*args: Any, quiet: bool = False, verbose: int = 0, **kwargs: Any) -> Any:
        if quiet and verbose:
            raise click.UsageError("-q/--quiet and -v/--verbose exclude each other")
        level = logs.QUIET if quiet else verbose
        with logs.terminal(level, out=kwargs.get("out"), library_bars=command.name in MAP_JOBS):
            return callback(*args, **kwargs)

    command.callback = run


for _command in cli.commands.values():  # every command, also those added later above
    _with_verbosity(_command)


def main() -> None:
    """Console-script entry point."""
    cli()
