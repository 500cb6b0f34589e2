"""Exchange rates kept by the service's operator: file formats, rate sources and the daily fetch."""
