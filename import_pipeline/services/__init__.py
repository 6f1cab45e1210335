"""Application services of the imports domain: register, plan, process and finalise imports.

Framework-free: the Dagster ops, the CLI and (later) the HTTP API call these functions.
"""
