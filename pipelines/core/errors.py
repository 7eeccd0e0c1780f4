"""The one user-error type: the CLI prints its message on one line and exits with code 2."""


class UserError(Exception):
    """Bad input from the user (missing file, wrong shape, NaN, unknown option value)."""
