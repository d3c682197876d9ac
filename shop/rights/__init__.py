"""Users' rights as identity last announced them, replicated into the database of every service
that authenticates without the user table (catalog, orders, delivery): what
shop.identity.authentication holds a token to there. Fed by shop.identity.user_rights_changed
events (shop/identity/rights.py publishes them)."""
