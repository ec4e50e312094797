"""Reports: the customer credit report (PDF and print page) and what follows."""
