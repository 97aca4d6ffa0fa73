"""Names shared by the checks, the compiler and the records service."""

# columns every entity table has, and the value types expressions see for them
STANDARD_FIELDS = {"id": "number", "created_at": "datetime", "updated_at": "datetime",
                   "created_by": "number", "owner": "number", "version": "number"}
# standard columns a list may be sorted on
STANDARD_SORTABLE = ("id", "created_at", "updated_at", "owner", "created_by")
