"""Helpers shared by the tests. Nothing here is collected: no file is named test_*."""
