"""News headlines: the table every source produces, file and HTTP readers, and a simulator."""
