"""The docker CLI's own text for what swarmlab reads from the engines: ``service ls``,
``service ps`` and ``node ls`` rows (:mod:`.tables`), ``docker info``'s Swarm section and
``inspect --pretty`` (:mod:`.pretty`), printed the way Go prints values (:mod:`._go`).
Pure functions of the engine's JSON, written after the CLI of the engines swarmlab runs
(docker 20.10): its templates, its sort orders, Go's formatting of times, durations, sizes
and numbers. Unit-tested without an engine; compared line by line with the real CLI on a real
swarm in tests/integration/test_cli_text.py.

Three things are left as a notebook shows them best and a terminal shows them the same: tabs
are expanded (at 8 columns, as a terminal does), a table's lines end at their last text (the
CLI pads empty last cells with blanks), and ``service inspect --pretty`` has no blank line
before and after it."""

from ._go import bytes_size, display_image, go_bool, go_float, natural_key, natural_less, pretty_print
from .pretty import format_info, format_node_pretty, format_service_pretty, swarm_info_lines
from .tables import (
    CLI_MIN_WIDTH,
    MAX_ERR_LENGTH,
    NODE_LS_COLUMNS,
    PS_COLUMNS,
    SERVICE_LS_COLUMNS,
    CliTable,
    node_ls_rows,
    node_names,
    ps_rows,
    published_ports,
    service_ls_rows,
    service_mode,
    service_replicas,
    task_error,
    task_ports,
    with_service_status,
)

__all__ = [
    "CLI_MIN_WIDTH", "MAX_ERR_LENGTH", "NODE_LS_COLUMNS", "PS_COLUMNS", "SERVICE_LS_COLUMNS",
    "CliTable", "bytes_size", "display_image", "format_info", "format_node_pretty",
    "format_service_pretty", "go_bool", "go_float", "natural_key", "natural_less", "node_ls_rows",
    "node_names", "pretty_print", "ps_rows", "published_ports", "service_ls_rows", "service_mode",
    "service_replicas", "swarm_info_lines", "task_error", "task_ports", "with_service_status",
]
