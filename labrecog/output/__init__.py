"""Last step of the pipeline: words and shapes for what the engine decided."""
