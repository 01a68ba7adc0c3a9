"""Thin MCP tools grouped by domain. Each module exposes ``register(mcp)``; ``app.server`` calls them."""
