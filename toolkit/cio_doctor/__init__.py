"""cio-doctor: read-only troubleshooting for the Customer.io integration on Google Cloud."""

__version__ = "0.1.0"
