"""Publishing: a folder the Hub viewer and `load_dataset` read (`folder`), and `push`, which
uploads it with retries, resuming, and without ever showing a token."""
