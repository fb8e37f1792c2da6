"""The machinery around the actors: settings, messages and their codec,
market data, matching, accounting, boot and the command line.

Import submodules directly (``runtime.messages``, ``runtime.boot``...); this
package's own namespace stays small and cheap to import.
"""

__all__: list[str] = []
