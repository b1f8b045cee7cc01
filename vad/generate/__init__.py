"""Synthetic training sets from LLM drawings: strategies -> stream -> dedupe -> shards."""
