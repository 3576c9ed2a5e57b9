"""OpenCL backend: device choice, kernel templates, program cache and lowered programs."""
