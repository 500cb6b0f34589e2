"""Examples of using billing from the outside; not part of the installed package."""
