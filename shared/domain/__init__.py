"""The billing domain: standard library only, no infrastructure."""
