"""HL7 v2 over MLLP: the listener monitors and gateways push ORU^R01 to, and an emulated sender.

``v2`` is the message text shared by every HL7 user in the project (times, escaping, ACKs),
``listener`` the driver's decoder and TCP source, ``driver`` the registry entry, ``gate`` the
rule that keeps one sender per session, ``codemap`` the site's code and unit mapping, ``sender``
the emulated monitor. MLLP framing and HOST:PORT parsing are in :mod:`drivers.transport.mllp`.
"""
