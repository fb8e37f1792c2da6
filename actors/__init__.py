"""One module per actor kind; broker adapters in ``actors.brokers``.

Import submodules directly (``actors.feed``, ``actors.risk``...).
"""

__all__: list[str] = []
