"""kanban pages (being built)."""
