"""Alerts: what the early-warning engine found, turned into work people clear.

Alerts and cases (de-duplication, severity, routing, SLA and escalation, comments, outcomes),
playbooks (tasks and credit actions per alert), notifications (in-app, e-mail, webhooks) and
the delivery outbox.

Which way the imports run: ``riskdesk.monitoring`` (rules and detectors) finds hits and calls
``alerts.service`` to raise them; alerts imports nothing from monitoring, because an alert
names its rule by code only. The complaint desk raises product alerts the same way. Below
alerts are customers (visibility, credit changes that playbooks propose), security and the
models. Inside the package the arrows also run one way:

    endpoints -> service -> playbooks -> visibility
                         -> notify -> addresses
    delivery -> repository, addresses

so the service starts playbooks on new alerts and playbooks never import the service.
"""
