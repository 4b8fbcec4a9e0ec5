"""The doors onto the engine: the command line now, HTTP next. Nothing here holds policy logic."""
