"""Prompt templates: a registry of named templates, each with its stop strings.

| name | use | stops | anchored |
|---|---|---|---|
| `deepseekmath` | DART synthesis prompt (DeepSeekMath-7B-RL) | `User:`, `Assistant:` | yes |
| `alpaca` | evaluation prompt of DART models (zero-shot) | `### Instruction:` ... | no |
| `qa` | few-shot "Question: ... Answer: ..." for base models | `Question:` | no |
| `chat` | the tokenizer's chat template + step-by-step instruction | (the model's EOS) | yes |

A template that asks for an anchored answer (`anchored`) makes builds grade with
`require_anchor`: a sampled response that states no answer is `no_answer`, not a training row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dart_hf.errors import DartError, unknown_name

STEP_BY_STEP = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class Template:
    """One prompt template.

    Attributes:
        name: Registry key.
        text: The prompt with a `{query}` placeholder (for `chat`: the user message).
        stop: Stop strings that end a completion.
        few_shot: Whether it takes (query, response) exemplars.
        chat: Whether it renders through the tokenizer's chat template.
        description: One line for cards and `--help`.
        anchored: Whether the prompt asks for an explicitly stated answer (`\\boxed{}`); builds
            then grade with `GradeConfig.require_anchor` (`dart_hf.grading.anchors`).
    """

    name: str
    text: str
    stop: tuple[str, ...] = ()
    few_shot: bool = False
    chat: bool = False
    description: str = ""
    anchored: bool = False

    def __post_init__(self) -> None:
        if "{query}" not in self.text:
            raise ValueError(f"template {self.name!r} has no {{query}} placeholder")


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            name="deepseekmath",
            text="User: {query}\n" + STEP_BY_STEP + "\n\nAssistant:",
            stop=("User:", "Assistant:"),
            description="DART-Math synthesis prompt (DeepSeekMath-7B-RL, zero-shot)",
            anchored=True,
        ),
        Template(
            name="alpaca",
            text=(
                "Below is an instruction that describes a task. Write a response that "
                "appropriately completes the request.\n\n### Instruction:\n{query}\n\n"
                "### Response:\n"
            ),
            stop=("### Instruction:", "### Response:"),
            description="Alpaca prompt: evaluation of the DART models (zero-shot)",
        ),
        Template(
            name="qa",
            text="Question: {query}\nAnswer:",
            stop=("Question:",),
            few_shot=True,
            description="few-shot Question/Answer prompt for base models",
        ),
        Template(
            name="chat",
            text="{query}\n" + STEP_BY_STEP,
            chat=True,
            description="the model's chat template with the step-by-step instruction",
            anchored=True,
        ),
    )
}


def get_template(name: str) -> Template:
    """Look up a template; an unknown name lists the valid ones."""
    if name not in TEMPLATES:
        raise unknown_name("template", name, TEMPLATES)
    return TEMPLATES[name]


def stop_strings(template: str) -> tuple[str, ...]:
    """The stop strings of a template."""
    return get_template(template).stop


def render_prompt(
    template: str,
    query: str,
    *,
    tokenizer: Any = None,
    exemplars: Sequence[tuple[str, str]] = (),
) -> str:
    """Render the prompt for one query.

    Args:
        template: Template name (see `TEMPLATES`).
        query: The question text.
        tokenizer: The model's tokenizer; required by `chat` (its chat template).
        exemplars: (query, response) pairs shown before the query; only `qa` takes them.

    Returns:
        The full prompt string, ending where the model's response begins.

    Raises:
        DartError: For an unknown template, `chat` without a tokenizer or chat template,
            or exemplars given to a zero-shot template.
    """
    tpl = get_template(template)
    if exemplars and not tpl.few_shot:
        raise DartError(f"template {template!r} is zero-shot; it takes no exemplars")
    body = tpl.text.replace("{query}", query)
    if tpl.chat:
        if tokenizer is None:
            raise DartError(f"template {template!r} needs the model's tokenizer")
        if not getattr(tokenizer, "chat_template", None):
            raise DartError(
                f"template {template!r}: the model's tokenizer has no chat template; "
                "use deepseekmath, alpaca or qa"
            )
        return str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": body}], tokenize=False, add_generation_prompt=True
            )
        )
    shots = "".join(tpl.text.replace("{query}", q) + f" {a.strip()}\n\n" for q, a in exemplars)
    return shots + body
