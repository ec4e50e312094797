"""Alerts: what the early-warning engine found, turned into work people clear.

Alerts and cases (de-duplication, severity, routing, SLA and escalation, comments, outcomes),
playbooks (tasks and credit actions per alert), notifications (in-app, e-mail, webhooks) and
the delivery outbox.

Which way the imports run: alerts stand a floor above ``riskdesk.monitoring`` (CONVENTIONS.md).
Monitoring (rules and detectors) only finds hits and returns them as plain ``Findings``;
``alerts.service`` asks it for them (``evaluate``: find, then ``raise_alerts``) and raises them.
Monitoring never imports alerts; an alert names its rule by code only. The complaint desk,
above alerts, raises product alerts through ``raise_product_alerts``. Also below alerts are
customers (visibility, credit changes that playbooks propose), security and the models. Inside
the package the arrows also run one way:

    endpoints -> service -> playbooks -> visibility
                         -> notify -> addresses
                         -> monitoring.service (a floor down: finds)
    delivery -> repository, addresses

so the service starts playbooks on new alerts and playbooks never import the service.
"""
