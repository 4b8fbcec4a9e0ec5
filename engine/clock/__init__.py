"""The deadline clock: the timeline as instants, local time, and each declared deadline's start,
due instant and status."""
