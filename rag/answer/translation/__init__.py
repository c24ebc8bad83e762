"""Translating a quote into the question's language, shown only when its facts match the quote's both ways."""
