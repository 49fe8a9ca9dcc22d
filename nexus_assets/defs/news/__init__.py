"""News headlines and their sentiment."""
