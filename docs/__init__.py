"""Generators of pages under docs/ (not shipped in images: `.dockerignore` leaves docs/ out)."""
