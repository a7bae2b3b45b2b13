"""The chat template read from the embedded model's real tokenizer."""

from __future__ import annotations

from dart_hf.sampling import prompts


def test_chat_uses_the_tokenizer_template() -> None:
    from transformers import AutoTokenizer

    from dart_hf.engines.models import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model(None).path)
    text = prompts.render_prompt("chat", "What is 2+3?", tokenizer=tok)
    assert text.startswith("<|im_start|>system\n")
    assert "<|im_start|>user\nWhat is 2+3?\n" + prompts.STEP_BY_STEP + "<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
