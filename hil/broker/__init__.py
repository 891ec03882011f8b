"""Rig leasing: CI jobs borrow a free rig of the right kind and give it back, even if they die.

A lease has an owner, a random token and an expiry renewed by a heartbeat; a lease whose
expiry has passed is stale and the next job (or ``recover_stale``) takes the rig back.
"""

from hil.broker.base import Heartbeat, Lease, LeaseLost, NoRigAvailable, RigBroker, default_owner
from hil.broker.local import LocalBroker, PoolRig, load_pool

__all__ = [
    "Heartbeat",
    "Lease",
    "LeaseLost",
    "LocalBroker",
    "NoRigAvailable",
    "PoolRig",
    "RigBroker",
    "default_owner",
    "load_pool",
]
