"""The one exception type the command line turns into a single error line."""


class Digit51Error(Exception):
    """A problem the user can fix: the message says what is wrong and what to do."""
