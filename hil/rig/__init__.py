"""Rig layer: rig files -> resources -> drivers -> one Rig object."""
