"""Quality controls: declared rules become asset checks, evaluated where the data is built."""
