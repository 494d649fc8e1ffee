"""The one exception type for mistakes the user can fix."""


class UserError(Exception):
    """Bad input (flags, data, run directory); the CLI prints it as one line."""
