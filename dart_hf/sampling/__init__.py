"""Sampling stage: queries in, sampled responses out, shard by shard, resumable.

`prompts` and `fewshot` render a query as the model sees it; `shards` plans a round's shards,
runs them (one blocking call per shard, or as one `stream` that keeps the engine full) and
records each finished request in its shard's `journal`; `command` is `dart-hf sample`.
"""
