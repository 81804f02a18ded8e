"""The LLM backend: schema-guided extraction through ``openai`` + ``instructor``.

Only ``extract.llm.client`` imports ``openai`` or ``instructor``; the other modules
build prompts, check answers against the table text, cache answers on disk and
run many tables concurrently, so they can be tested and reused without a model.
"""
