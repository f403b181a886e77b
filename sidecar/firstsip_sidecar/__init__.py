"""FirstSip sidecar: runs FirstSip plugins from Redis Streams in separately scaled workers.

Plugins import :class:`Retry` to ask for another attempt, and receive a :class:`PluginContext`.
"""

from .context import PluginContext
from .errors import PluginFailure, Retry

__all__ = ["PluginContext", "PluginFailure", "Retry", "__version__"]
__version__ = "1.0.0"
