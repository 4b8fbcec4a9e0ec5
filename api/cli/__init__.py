"""The command-line way in, ``misper``: one module per command group, assembled in ``main``."""
