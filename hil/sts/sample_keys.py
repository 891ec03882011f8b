"""TEST MATERIAL: the public vending keys of published STS conformance vectors.

They protect nothing and exist so that demos, the simulator and tests run without a key
management system. Production keys never live in this repository: rig files name an
environment variable or a file instead.
"""

TEST_VENDING_KEY_DKGA04 = "ABABABABABABABAB949494949494949401234567"  # public test material
TEST_VENDING_KEY_DKGA02 = "ABABABABABABABAB"  # public test material
TEST_VENDING_KEYS = {"dkga04": TEST_VENDING_KEY_DKGA04, "dkga02": TEST_VENDING_KEY_DKGA02}

# The test meter used when no meter is given: the identity of the public CTSA vectors,
# on base date 2014 (base 1993 ran out of TIDs on 2024-11-24).
TEST_METER = {
    "pan": "600727000000000009",
    "sgc": 123457,
    "ti": 1,
    "krn": 1,
    "kt": 2,
    "ken": 255,
    "base_date": 2014,
    "ea": 11,
    "dkga": 4,
    "vending_key": {"test_key": "dkga04"},
}
