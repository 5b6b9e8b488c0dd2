"""Alliance: an open-source partner-marketing network."""
