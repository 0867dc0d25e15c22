"""Assignment of workers and party members, and patrol routes; filled in by later work."""
