"""Early warning: rules over indicators and attributes, anomaly and churn detection."""
