"""Identifiability audits (Méloux et al., ICLR 2025)."""
