"""Early warning: rules over indicators and attributes, anomaly and churn detection, backtests.

What rules and detectors find is raised as alerts through ``riskdesk.alerts.service``;
monitoring sits above alerts, which never imports it."""
