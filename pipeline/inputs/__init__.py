"""Inputs: find documents, render their pages within the pixel budget, read e-invoices."""
