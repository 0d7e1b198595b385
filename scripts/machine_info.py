"""What the machine a figure was measured on is, for the tables that quote figures
(benchmarks/run_all.py, scripts/example_table.py)."""


def cpu_model(default="unknown CPU"):
    """The CPU's model name from /proc/cpuinfo, else `default`."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default
