"""The vocabulary every layer shares and none owns: regions (GB/T 2260), enums with their Chinese labels, time.
Imports nothing from the rest of the project, so every package may import it."""
