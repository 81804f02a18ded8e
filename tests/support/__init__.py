"""Shared test support: the local OpenAI-compatible LLM test server and other fixtures."""
