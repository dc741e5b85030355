"""Step 4 of the pipeline: from checked candidates to waive / partial / retest and savings."""
