"""ZeroMQ transport for oslo.messaging: a driver plus a stateless routing proxy."""

__version__ = "0.1.0"
