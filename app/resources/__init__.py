"""One module per OpenStack kind; see ``base.py`` for the contract and ``registry.py`` for the list."""
