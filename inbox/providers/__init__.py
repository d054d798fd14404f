"""One module per messenger behind one interface (base.py); see PROVIDERS."""
