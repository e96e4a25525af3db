"""A one-model app whose table the ORM benchmark job inserts into."""
