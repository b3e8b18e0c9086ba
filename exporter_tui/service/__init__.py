"""The service layer: a run's whole life and the schedule of a stored request.

The CLI, the TUI, the scheduler's callers and the HTTP API all go through here, so each
piece of that knowledge has one home.
"""
