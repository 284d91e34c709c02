"""Hardware probe: NVML and host facts, topology, link ceilings, health checks.

The only package that imports pynvml.
"""
