"""Example agent specs (`support.yaml`) and the Python tools they name (`tools.py`)."""
