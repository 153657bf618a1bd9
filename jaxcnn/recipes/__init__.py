"""Fast, self-contained training recipes, one compact file each (airbench's style): `airbench94`."""
