"""What every app shares and no app owns (DESIGN.md, Layout)."""
