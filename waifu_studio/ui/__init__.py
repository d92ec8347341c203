"""Qt front end: thin widgets that hold core objects and draw them."""
