"""Adapters: one module (or small package) per foreign protocol."""
