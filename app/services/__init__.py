"""Use cases behind the tools: inventory reads, monitoring/health, operations (write-through)."""
