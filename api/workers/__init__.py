"""Work off the server's event loop: the worker pools (two lanes with admission control) and the
tasks that run in worker processes (plain values in, JSON bytes out)."""
