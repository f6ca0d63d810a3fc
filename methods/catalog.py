"""Imports every built-in method module so that their decorators register them."""
import reidbench.methods.handcrafted.methods  # noqa: F401
import reidbench.methods.deep.zoo  # noqa: F401
