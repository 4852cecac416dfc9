"""Geoid and datum grids shipped as package data (see NOTICE.md)."""
