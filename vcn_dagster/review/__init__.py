"""`vcn review`: see a cast and correct it in a browser (`app`), or write it as a read-only report (`report`)."""
