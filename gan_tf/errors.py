"""The one exception type for mistakes the user can fix."""


class UserError(ValueError):
    """Bad input (flags, data, run directory) or a failed write; the command line
    prints it as one `error: ...` line. A ValueError, so library code that checks
    arguments the usual way catches it too."""


def first_line(error):
    """The first line of `error`'s message (its type's name if it has none):
    library errors run to many lines, ours are one."""
    return (str(error).strip() or type(error).__name__).splitlines()[0]


class Interrupted(UserError):
    """Training stopped by a signal: one line saying what was kept and how to go
    on, and the exit status a shell expects of that signal (128 + its number)."""

    def __init__(self, message, signal_number):
        super().__init__(message)
        self.exit_status = 128 + int(signal_number)
