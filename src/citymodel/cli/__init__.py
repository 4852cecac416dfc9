"""The ``citymodel`` command line (click); one module per command."""
