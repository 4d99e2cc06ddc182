"""Pictures of what sockets did: sequence diagrams, the TCP state diagram, byte timelines.

Every function draws on the matplotlib Axes it is given (`ax=`) and returns
it; without one it makes a new figure of a fitting size. Nothing here calls
`plt.show()` or touches rcParams, so a notebook keeps its own style. The
pictures are drawn from data: a server's `Trace` (see `sockcourse.trace`)
and the state machine in `sockcourse.tcpstates`.

Colours come from the Okabe-Ito palette, chosen to stay distinct for readers
with the common kinds of colour blindness; line styles repeat what the colour
says, so a grey-scale print still reads.

Each chapter's pictures live in a module of their own in this package; this
file only gathers their public names.
"""

from .conversation import sequence_diagram, timeline
from .history import ICP_STEPS, MILESTONES, history_timeline, initial_connection, layer_models, socket_name_bits
from .states import state_diagram
from .style import CONNECTION_COLOURS, PALETTE, ROLE_COLOURS
from .tls import byte_values, certificate_checks, handshake_costs, handshake_ladders, tls_messages, trust_chain
from .unix import fd_passing, latency_comparison, message_boundaries, throughput_comparison
from .udp import datagram_fates, datagram_layout, udp_lookup, update_delays
from .many import accept_queue, scaling, service_timeline
from .javautf import writeutf_layout
from .modbus import frame_layout
from .syscalls import side_by_side
from .nagle import buffer_throughput, nagle_latency
from .reuseport import reuseport_spread
from .tcpinfo import tcp_info_timeline
from .connections import half_close, shared_port

__all__ = ["CONNECTION_COLOURS", "ICP_STEPS", "MILESTONES", "initial_connection", "PALETTE", "ROLE_COLOURS", "history_timeline", "layer_models",
           "sequence_diagram", "socket_name_bits", "state_diagram", "timeline",
           "fd_passing", "latency_comparison", "message_boundaries", "throughput_comparison",
           "datagram_fates", "datagram_layout", "udp_lookup", "update_delays",
           "byte_values", "certificate_checks", "handshake_costs", "handshake_ladders",
           "accept_queue", "scaling", "service_timeline",
           "writeutf_layout", "frame_layout", "side_by_side",
           "buffer_throughput", "nagle_latency", "reuseport_spread", "tcp_info_timeline",
           "half_close", "shared_port", "tls_messages", "trust_chain"]
