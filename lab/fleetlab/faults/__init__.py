"""Fault scenarios to rehearse troubleshooting, made the way each happens for real, on a sandbox cluster or a
local one, each with what shows it and the finding the troubleshooting runbook must give first.
"""
