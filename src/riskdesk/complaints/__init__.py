"""Complaints, surveys and feedback: classification, response SLA, the desk, product surges."""
