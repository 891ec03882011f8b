"""DLMS/COSEM client codec, sans-IO (docs/dlms.md): bytes in, objects and events out.

Modules, bottom up: `crc` (CRC-16/X.25), `obis` (logical names), `axdr` (typed COSEM data),
`apdu` (AARQ/AARE, GET/SET/ACTION), `hdlc` (IEC 62056-46 frames and link state), `wrapper`
(IEC 62056-47 over TCP), `client` (the association and request state), `cosem` (the prepaid
objects and their default logical names). Nothing here opens a port or reads a clock; drivers
(`hil.rig.drivers.dlms`) and the simulated meter (`hil.sim.dlms_server`) do the I/O.
"""
