"""One router per component; each is a thin layer over the component's Python API."""
