"""The references domain: references, their identifiers and enhancements, exact-duplicate merge."""
