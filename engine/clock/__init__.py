"""The deadline clock: the timeline as instants, and each declared deadline's start,
due instant and status."""
