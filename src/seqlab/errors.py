"""The one exception type a user should ever see.

Anything the user can fix (a missing file, a bad column, an incompatible model
directory) is raised as :class:`SeqlabError`; the CLI prints its message and
exits with status 2 instead of a traceback. Programming errors stay ordinary
exceptions so that they are not hidden.
"""


class SeqlabError(Exception):
    """A problem with the user's input, data or model directory, explained in words."""
