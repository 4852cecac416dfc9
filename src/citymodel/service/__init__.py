"""The HTTP service: job API, tile server and viewer (``citymodel serve``)."""
