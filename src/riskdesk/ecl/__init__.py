"""Expected credit loss by the IFRS 9 simplified approach: a provision matrix of loss rates per
ageing bucket (and segment), from the roll rates of the company's own receivables history."""
