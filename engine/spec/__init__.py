"""Stage 1: YAML project -> validated, merged spec with positions."""
