"""Early warning: rules over indicators and attributes, anomaly and churn detection, backtests.

Monitoring only finds: rules and detectors return ``Findings`` (plain data) and write no alert.
``riskdesk.alerts``, a floor above, raises them and imports monitoring; monitoring never
imports alerts."""
