"""The tutorial's application: a chat whose messages reach every member's page live."""
