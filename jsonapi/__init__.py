"""The JSON:API layer: knows no app by name (DESIGN.md, Layout)."""
