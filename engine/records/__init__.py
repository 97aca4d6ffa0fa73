"""Stage 4: the records service, the only door to data."""

from .context import SYSTEM, Actor, Context
from .errors import ConflictError, NotFound, PermissionDenied, RecordError, ValidationError
from .query import Query
from .service import RecordService

__all__ = ["SYSTEM", "Actor", "ConflictError", "Context", "NotFound", "PermissionDenied", "Query", "RecordError", "RecordService",
           "ValidationError"]
