"""The wangge service and command line."""
