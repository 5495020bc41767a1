__version__ = "0.1.0"

from . import core as _core  # noqa: F401  (sets the offline-safe environment before anything heavy loads)
