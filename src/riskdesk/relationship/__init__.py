"""The relationship view of the credit file: interactions (calls, visits, e-mails with notes
and a next step) and contracts with their terms and dates."""
