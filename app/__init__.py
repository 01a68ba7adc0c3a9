"""mcp-openstack-ops: an MCP server that operates OpenStack from a cached, indexed snapshot."""

__version__ = "0.1.0"
