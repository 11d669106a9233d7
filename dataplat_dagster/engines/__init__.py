"""Engines: the table work (reading landing files, steps, SQL, Python) on a frame type."""
