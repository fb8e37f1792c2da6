"""Broker adapters: plain classes hosted by engine actors."""

from actors.brokers.base import AdapterEvent, BrokerAdapter
from actors.brokers.paper import PaperAdapter

__all__ = ["AdapterEvent", "BrokerAdapter", "PaperAdapter"]
