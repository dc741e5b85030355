"""Step 3 of the pipeline: the checks a lab doctor makes on each candidate prior result."""
