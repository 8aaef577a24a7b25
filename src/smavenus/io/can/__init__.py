"""The CAN edge shared by the can-gateway and the simulator: opening a bus from ``[can]``,
the chunked slcan and counting virtual buses, the draining notifier, the frame senders, and
the rule that tells a dead bus from one lost frame."""
