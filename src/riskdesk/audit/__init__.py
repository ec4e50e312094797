"""The audit log: every write and every view of personal data, chained so that editing,
inserting or deleting an entry is found by ``riskdesk audit verify``."""
