"""A café: the orders service takes orders, and the kitchen service makes them."""
