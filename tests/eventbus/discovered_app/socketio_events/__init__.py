"""A package of real-time declarations, as an application lays it out for ``bus.autodiscover``."""
