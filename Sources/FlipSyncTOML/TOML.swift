// Replaced by the TOML parser.
