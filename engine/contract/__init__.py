"""Contract v1: the timeline callers send, the evaluation they get, and its names."""
