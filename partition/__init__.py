"""Micro-grid partitioning of communities (see the partition issue); filled in by later work."""
