"""Prompt template registry."""

from __future__ import annotations

import pytest

from dart_hf.errors import DartError
from dart_hf.sampling import prompts


def test_registry_names_and_stops() -> None:
    assert set(prompts.TEMPLATES) == {"deepseekmath", "alpaca", "qa", "chat"}
    assert prompts.stop_strings("deepseekmath") == ("User:", "Assistant:")
    assert prompts.stop_strings("alpaca") == ("### Instruction:", "### Response:")
    assert prompts.stop_strings("qa") == ("Question:",)
    assert prompts.stop_strings("chat") == ()


def test_deepseekmath_is_the_spec_prompt() -> None:
    assert prompts.render_prompt("deepseekmath", "What is $1+1$?") == (
        "User: What is $1+1$?\nPlease reason step by step, and put your final answer "
        "within \\boxed{}.\n\nAssistant:"
    )


def test_alpaca_is_the_spec_prompt() -> None:
    assert prompts.render_prompt("alpaca", "Q?") == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nQ?\n\n### Response:\n"
    )


def test_braces_in_queries_are_kept_verbatim() -> None:
    query = "Find {x} such that \\frac{1}{x} = {query}"
    assert query in prompts.render_prompt("deepseekmath", query)


def test_qa_few_shot() -> None:
    shots = [("1+1?", "1+1=2. The answer is 2."), ("2+2?", "4")]
    text = prompts.render_prompt("qa", "3+3?", exemplars=shots)
    assert text == (
        "Question: 1+1?\nAnswer: 1+1=2. The answer is 2.\n\n"
        "Question: 2+2?\nAnswer: 4\n\n"
        "Question: 3+3?\nAnswer:"
    )
    assert prompts.render_prompt("qa", "3+3?") == "Question: 3+3?\nAnswer:"


def test_errors() -> None:
    with pytest.raises(DartError, match="unknown template 'nope'; valid: alpaca, chat, "):
        prompts.render_prompt("nope", "q")
    with pytest.raises(DartError, match="needs the model's tokenizer"):
        prompts.render_prompt("chat", "q")
    with pytest.raises(DartError, match="zero-shot"):
        prompts.render_prompt("alpaca", "q", exemplars=[("a", "b")])

    class NoTemplate:
        chat_template = None

    with pytest.raises(DartError, match="no chat template"):
        prompts.render_prompt("chat", "q", tokenizer=NoTemplate())


def test_template_records_say_whether_they_ask_for_an_anchored_answer() -> None:
    """Builds grade with `require_anchor` from this record (issue 26)."""
    asks = {name: t.anchored for name, t in prompts.TEMPLATES.items()}
    assert asks == {"deepseekmath": True, "alpaca": False, "qa": False, "chat": True}
    for name, t in prompts.TEMPLATES.items():
        assert ("\\boxed{}" in t.text) is t.anchored, name
