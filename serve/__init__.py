"""autoquote's HTTP service: intake, assessment, records and keys, on top of :mod:`model`."""
