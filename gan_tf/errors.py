"""The one exception type for mistakes the user can fix."""


class UserError(Exception):
    """Bad input (flags, data, run directory); the CLI prints it as one line."""


def first_line(error):
    """The first line of `error`'s message (its type's name if it has none):
    library errors run to many lines, ours are one."""
    return (str(error).strip() or type(error).__name__).splitlines()[0]
