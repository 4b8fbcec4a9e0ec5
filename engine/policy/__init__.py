"""The policy: its files, the when language, the checks, loading and compiling, the registry of
versions and their embedded tests."""
