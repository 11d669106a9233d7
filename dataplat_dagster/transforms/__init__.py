"""Python transforms referenced from dataflow YAML by dotted path.

A transform is a pure function: it takes its inputs as keyword arguments named after the
input tables (plus the table's `params`) and returns a frame. No Dagster imports here.
"""
