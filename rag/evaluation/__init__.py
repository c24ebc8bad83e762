"""Measuring answers: question files, metrics and rag eval."""
