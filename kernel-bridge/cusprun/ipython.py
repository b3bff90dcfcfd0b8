"""The IPython extension: `%load_ext cusprun` registers the `%cusprun` line magic.

The pruning workflow (`%cusprun model`, `score`, `sweep`, …) arrives with the sidecar; for now
the magic answers `help` and `version`, and names anything else as unknown in one line.
"""

from ._version import __version__

COMMANDS = {
    "help": "show this help",
    "version": "show the cusprun version",
}


def _help() -> str:
    lines = ["usage: %cusprun <command>", "", "commands:"]
    lines += [f"  {name:10s} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def cusprun_magic(line: str) -> None:
    words = line.split()
    command = words[0] if words else "help"
    if command == "help":
        print(_help())
    elif command == "version":
        print(f"cusprun {__version__}")
    else:
        print(f"cusprun: unknown command '{command}' (known: {', '.join(COMMANDS)})")


def load_ipython_extension(ipython):
    ipython.register_magic_function(cusprun_magic, magic_kind="line", magic_name="cusprun")


def unload_ipython_extension(ipython):
    ipython.magics_manager.magics["line"].pop("cusprun", None)
