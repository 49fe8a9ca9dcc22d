"""Local stand-ins for the systems Trade Nexus talks to: a market, Lona, the Live Engine."""
