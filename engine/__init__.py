"""Tailor: a low-code CRM engine driven by YAML metadata.

The pipeline is one-way and each stage lives in its own subpackage:

    spec/     YAML project  -> validated spec (positions kept, all problems at once)
    model/    spec          -> compiled model (immutable, versioned; SQLAlchemy Core tables)
    migrate/  model + live database -> a plan that never loses data silently
    records/  the records service: the only door to data
    expr/     the expression language shared by every stage
"""

__version__ = "0.1.0"
