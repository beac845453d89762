"""Boost releases and the metadata (``meta/libraries.json``) of every library in each release."""
