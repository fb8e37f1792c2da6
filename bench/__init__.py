"""tradepit benchmarks: ``python -m bench.run --output BENCHMARKS.md``.

Modules:

- :mod:`bench.latency`: tick-to-order latency of the runtime (five hops:
  feed, strategy, risk, order manager, engine) next to a floor of plain
  threads and ``queue.SimpleQueue`` doing the same work per hop, in
  two scenarios: ``signal`` (one order on a quiet runtime; the verdict) and
  ``every-bar`` (an order and the previous order's fill on every bar);
- :mod:`bench.orderflow`: what risk and the order manager cost per order:
  their pure work (:mod:`bench._order_cost`) and the latency and orders/s
  through the two actors next to a bare two-hop relay
  (:mod:`bench._relays`; the orders from :mod:`bench._orderstream`);
- :mod:`bench.fanout`: bar fan-out throughput to 1, 10 and 100 strategies;
- :mod:`bench._supervision`: strategy restart latency and engine failover
  latency (and the strategy that fails on purpose for the first);
- :mod:`bench.gateway`: the ZeroMQ gateway: events/s to a subscriber next to
  raw pyzmq (:mod:`bench._gateway_stream`), command round trips, hot-add to
  first bar and a stalled subscriber (:mod:`bench._gateway_service`, with
  :mod:`bench._gateway_probe` and the subscriber process
  :mod:`bench._gateway_reader`); its report section: :mod:`bench._gateway_report`;
- :mod:`bench.strategies`: the strategies the benchmarks run;
- :mod:`bench.report`: renders ``BENCHMARKS.md`` (the order-flow section:
  :mod:`bench._report_orderflow`);
- :mod:`bench.run`: the command line.

Benchmarks report figures; they assert nothing about behaviour (tests do).
"""

__all__: list[str] = []
