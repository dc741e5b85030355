"""Batch evaluation: JSONL in, one record out per line in, nothing lost."""
