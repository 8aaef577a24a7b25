"""Bus names, object paths, interfaces and members of smavenus's private D-Bus interfaces.

The interface names carry a version (``…1``): a change that breaks an older reader gets a
new interface, so processes of different versions never misread each other during an update.
Every signal and method carries one argument: a JSON document validated with the models in
:mod:`smavenus.ipc.messages` on receipt.
"""

from __future__ import annotations

from typing import Final

# can-gateway ---------------------------------------------------------------------------
GATEWAY_BUS_NAME: Final = "io.smavenus.CanGateway"
GATEWAY_PATH: Final = "/io/smavenus/CanGateway"
GATEWAY_INTERFACE: Final = "io.smavenus.CanGateway1"
#: signal (s: SiSnapshot JSON): one coherent snapshot per SI cycle
SNAPSHOT_SIGNAL: Final = "Snapshot"
#: signal (s: GatewayHealth JSON): bus state, counters, what is being sent and why
HEALTH_SIGNAL: Final = "Health"
#: method () -> s: the latest SiSnapshot, so a restarted subscriber catches up at once
GET_SNAPSHOT_METHOD: Final = "GetSnapshot"
#: method () -> s: the latest GatewayHealth
GET_HEALTH_METHOD: Final = "GetHealth"
#: method (s: "on" | "off") -> s: send 0x35C (only if [gateway] enable_remote_on_off)
REMOTE_ON_OFF_METHOD: Final = "RemoteOnOff"
#: method () -> s: send 0x00F quick stop (only if [gateway] enable_quick_stop)
QUICK_STOP_METHOD: Final = "QuickStop"

# bms-controller ------------------------------------------------------------------------
CONTROLLER_BUS_NAME: Final = "io.smavenus.BmsController"
CONTROLLER_PATH: Final = "/io/smavenus/BmsController"
CONTROLLER_INTERFACE: Final = "io.smavenus.BmsController1"
#: signal (s: BmsCommand JSON): what the gateway should send to the SI, every controller period
COMMAND_SIGNAL: Final = "Command"
#: signal (s: ControllerStatus JSON): charge state, limits with reasons, protections, input ages
STATUS_SIGNAL: Final = "Status"
#: method () -> s: the latest ControllerStatus
GET_STATUS_METHOD: Final = "GetStatus"
#: method (s: who asks, for the log) -> s: RequestOutcome JSON. The charge state machine goes
#: to bulk with a full charge due. Root and the smavenus user only (D-Bus policy).
START_FULL_CHARGE_METHOD: Final = "StartFullCharge"
#: method (s: who asks) -> s: RequestOutcome JSON. Held SMA alarms whose rule let go are
#: released now. Root and the smavenus user only (D-Bus policy).
ACKNOWLEDGE_ALARMS_METHOD: Final = "AcknowledgeAlarms"

# vebus-publisher -----------------------------------------------------------------------
PUBLISHER_BUS_NAME: Final = "io.smavenus.VebusPublisher"
PUBLISHER_PATH: Final = "/io/smavenus/VebusPublisher"
PUBLISHER_INTERFACE: Final = "io.smavenus.VebusPublisher1"
#: signal (s: DvccWrites JSON): DVCC's latest writes into our vebus service, after each write
DVCC_WRITES_SIGNAL: Final = "DvccWrites"
#: method () -> s: the latest DvccWrites
GET_DVCC_WRITES_METHOD: Final = "GetDvccWrites"
