"""VADCloud edge agent: reads camera streams, runs an anomaly ensemble locally, sends metadata only.

Never imports Django; inference never imports torch (``edge_agent.training`` only).
"""

__version__ = "0.1.0"
